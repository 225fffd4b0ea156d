// The people-reading APIClient methods: getCustomersByEmail, getAttributes (id, email, cio_id),
// getCustomersAttributes, getCustomerActivities and getCustomerSegments, cross-checked against
// plain fetch of the same App API endpoints.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CustomerIORequestError, IdentifierType } from 'customerio-node';
import { useNudge, unique } from './nudge-server.mjs';

const nudge = useNudge();

test('getCustomersByEmail finds the person whatever the case of the email, and nobody for an unknown one', async () => {
  const id = unique('finder');
  const email = `${id}@example.com`;
  await nudge.track.identify(id, { email });
  const cio = (await nudge.api.getAttributes(id)).customer.identifiers.cio_id;

  const { results } = await nudge.api.getCustomersByEmail(email);
  assert.deepEqual(results, [{ id, email, cio_id: cio }]);
  const upper = await nudge.api.getCustomersByEmail(email.toUpperCase());
  assert.deepEqual(upper.results.map((r) => r.cio_id), [cio], 'email lookup is case-insensitive');
  assert.deepEqual((await nudge.api.getCustomersByEmail(`nobody-${email}`)).results, []);

  const raw = await nudge.appGet(`/v1/customers?email=${encodeURIComponent(email)}`);
  assert.equal(raw.status, 200);
  assert.deepEqual(raw.body.results, results, 'the SDK returns the body as sent');
});

test('getAttributes resolves the same person by id, email and cio_id', async () => {
  const id = unique('triple');
  const email = `${id}@example.com`;
  await nudge.track.identify(id, { email, plan: 'gold', created_at: 1_700_000_000 });
  await nudge.track.addDevice(id, 'tok-triple', 'ios', { last_used: 1_700_000_000 });

  const byId = (await nudge.api.getAttributes(id)).customer;
  const cio = byId.identifiers.cio_id;
  const byEmail = (await nudge.api.getAttributes(email, IdentifierType.Email)).customer;
  const byCio = (await nudge.api.getAttributes(cio, IdentifierType.CioId)).customer;
  assert.deepEqual(byEmail, byId);
  assert.deepEqual(byCio, byId);

  assert.deepEqual(byId.identifiers, { id, email, cio_id: cio });
  assert.equal(byId.attributes.plan, 'gold');
  assert.equal(byId.attributes.created_at, 1_700_000_000);
  assert.equal(typeof byId.timestamps, 'object');
  assert.equal(byId.unsubscribed, false);
  assert.deepEqual(byId.devices, [{ id: 'tok-triple', platform: 'ios', last_used: 1_700_000_000, attributes: {} }]);
  assert.deepEqual(byId.anonymous_ids, []);

  const raw = await nudge.appGet(`/v1/customers/${encodeURIComponent(id)}/attributes?id_type=id`);
  assert.deepEqual(raw.body.customer, byId);
});

test('getAttributes of an unknown person rejects with 404', async () => {
  await assert.rejects(nudge.api.getAttributes(unique('ghost')), (err) => {
    assert.ok(err instanceof CustomerIORequestError);
    assert.equal(err.statusCode, 404);
    return true;
  });
  await assert.rejects(nudge.api.getAttributes(`${unique('ghost')}@example.com`, 'email'), (err) => err.statusCode === 404);
});

test('getCustomersAttributes returns each known person once and skips unknown ids', async () => {
  const a = unique('many-a');
  const b = unique('many-b');
  await nudge.track.identify(a, { n: 1 });
  await nudge.track.identify(b, { n: 2 });
  await nudge.track.addDevice(b, 'tok-many-b', 'android');

  const { customers } = await nudge.api.getCustomersAttributes([a, unique('nobody'), b]);
  const byId = Object.fromEntries(customers.map((c) => [c.identifiers.id, c]));
  assert.deepEqual(Object.keys(byId).sort(), [a, b].sort());
  assert.equal(byId[a].attributes.n, 1);
  assert.equal(byId[b].attributes.n, 2);
  assert.deepEqual(byId[b].devices.map((d) => d.id), ['tok-many-b']);
  assert.deepEqual(byId[a], (await nudge.api.getAttributes(a)).customer, 'the same shape as getAttributes');
});

test('getCustomerActivities reads by cio_id, filters by type and name, and records attribute changes', async () => {
  const id = unique('acts');
  await nudge.track.identify(id, { plan: 'trial' });
  await nudge.track.track(id, { name: 'Alpha' });
  await nudge.track.track(id, { name: 'Beta' });
  await nudge.track.identify(id, { plan: 'gold' });
  const cio = (await nudge.api.getAttributes(id)).customer.identifiers.cio_id;

  const all = (await nudge.api.getCustomerActivities(cio, { idType: 'cio_id' })).activities;
  const types = all.map((a) => a.type);
  assert.deepEqual(
    types.filter((t) => t === 'event' || t === 'attribute_change'),
    ['attribute_change', 'event', 'event', 'attribute_change'],
    `newest first: ${JSON.stringify(all)}`,
  );
  assert.deepEqual(
    all.filter((a) => a.type === 'event').map((a) => a.name),
    ['Beta', 'Alpha'],
  );
  for (const activity of all) {
    assert.equal(typeof activity.id, 'string');
    assert.equal(typeof activity.timestamp, 'number');
  }
  const beta = (await nudge.api.getCustomerActivities(id, { name: 'Beta' })).activities;
  assert.deepEqual(beta.map((a) => a.name), ['Beta']);
  const changes = (await nudge.api.getCustomerActivities(id, { type: 'attribute_change' })).activities;
  assert.equal(changes.length, 2);
});

test('getCustomerSegments is empty for a person in no segment, and lists a manual one after adding', async () => {
  const id = unique('segless');
  await nudge.track.identify(id, {});
  assert.deepEqual((await nudge.api.getCustomerSegments(id)).segments, []);

  const { segment } = await nudge.api.createSegment({ name: unique('Readers') });
  await nudge.track.addCustomersToSegment(segment.id, [id]);
  const { segments } = await nudge.api.getCustomerSegments(id);
  assert.deepEqual(segments.map((s) => [s.id, s.name]), [[segment.id, segment.name]]);
});
