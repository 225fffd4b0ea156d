// TrackClient.mergeCustomers, and manual segments: APIClient.createSegment,
// TrackClient.addCustomersToSegment / removeCustomersFromSegment, APIClient.getCustomerSegments.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CustomerIORequestError, IdentifierType } from 'customerio-node';
import { useNudge, unique } from './nudge-server.mjs';

const nudge = useNudge();

async function cioOf(id, idType = 'id') {
  return (await nudge.api.getAttributes(id, idType)).customer.identifiers.cio_id;
}

/** The secondary of a merge no longer exists as a person of its own. */
async function assertGoneInto(id, idType, primaryCio) {
  const res = await nudge.appGet(`/v1/customers/${encodeURIComponent(id)}/attributes?id_type=${idType}`);
  if (res.status === 404) return;
  assert.equal(res.status, 200);
  assert.equal(res.body.customer.identifiers.cio_id, primaryCio, `${idType} ${id} must not be a separate person`);
}

test('mergeCustomers (id into id) fills gaps on the primary and moves events and devices', async () => {
  const primary = unique('prim');
  const secondary = unique('sec');
  await nudge.track.identify(primary, { plan: 'gold' });
  await nudge.track.identify(secondary, { plan: 'free', city: 'Lyon', email: `${secondary}@example.com` });
  await nudge.track.track(secondary, { name: 'Viewed Product' });
  await nudge.track.addDevice(secondary, 'tok-sec', 'android');
  const primaryCio = await cioOf(primary);

  assert.deepEqual(await nudge.track.mergeCustomers(IdentifierType.Id, primary, IdentifierType.Id, secondary), {});

  const { customer } = await nudge.api.getAttributes(primary);
  assert.equal(customer.identifiers.cio_id, primaryCio);
  assert.equal(customer.attributes.plan, 'gold', "the primary's values win");
  assert.equal(customer.attributes.city, 'Lyon', 'the secondary fills gaps');
  assert.equal(customer.identifiers.email, `${secondary}@example.com`);
  assert.deepEqual(customer.devices.map((d) => d.id), ['tok-sec']);
  const events = (await nudge.api.getCustomerActivities(primary, { name: 'Viewed Product' })).activities;
  assert.equal(events.length, 1, JSON.stringify(events));
  await assertGoneInto(secondary, 'id', primaryCio);
});

test('mergeCustomers accepts email and cio_id identifiers', async () => {
  const primary = unique('p2');
  const secondaryEmail = `${unique('s2')}@example.com`;
  await nudge.track.identify(primary, { tier: 1 });
  await nudge.track.identify(secondaryEmail, { nickname: 'esse' });
  const primaryCio = await cioOf(primary);

  await nudge.track.mergeCustomers(IdentifierType.CioId, primaryCio, IdentifierType.Email, secondaryEmail);

  const { customer } = await nudge.api.getAttributes(primary);
  assert.equal(customer.attributes.nickname, 'esse');
  assert.equal(customer.identifiers.email, secondaryEmail);
  const { results } = await nudge.api.getCustomersByEmail(secondaryEmail);
  assert.deepEqual(results.map((r) => r.cio_id), [primaryCio], 'the email now belongs to the primary only');
});

test('mergeCustomers into a primary that does not exist changes nothing', async () => {
  const secondary = unique('lonely');
  await nudge.track.identify(secondary, { plan: 'free' });
  const before = await cioOf(secondary);

  assert.deepEqual(await nudge.track.mergeCustomers('id', unique('nobody'), 'id', secondary), {});

  const { customer } = await nudge.api.getAttributes(secondary);
  assert.equal(customer.identifiers.cio_id, before);
  assert.equal(customer.attributes.plan, 'free');
});

test('manual segments: createSegment, add and remove by id, email and cio_id, read with getCustomerSegments', async () => {
  const name = unique('VIP list');
  const created = await nudge.api.createSegment({ name, description: 'hand-picked' });
  const segmentId = created.segment.id;
  assert.ok(Number.isInteger(segmentId), `segment id: ${JSON.stringify(created)}`);
  assert.equal(created.segment.name, name);

  const a = unique('seg-a');
  const b = unique('seg-b');
  const c = unique('seg-c');
  await nudge.track.identify(a, { email: `${a}@example.com` });
  await nudge.track.identify(b, {});
  await nudge.track.identify(c, {});
  const cCio = await cioOf(c);

  // No idType: the API default (id). Non-matching entries are ignored.
  assert.deepEqual(await nudge.track.addCustomersToSegment(segmentId, [a, b, unique('nobody')]), {});
  assert.deepEqual(await nudge.track.addCustomersToSegment(segmentId, [cCio], IdentifierType.CioId), {});

  for (const id of [a, b, c]) {
    const { segments } = await nudge.api.getCustomerSegments(id);
    assert.deepEqual(segments.map((s) => [s.id, s.name]), [[segmentId, name]], `${id} is in the segment`);
  }
  const viaEmail = await nudge.api.getCustomerSegments(`${a}@example.com`, IdentifierType.Email);
  assert.deepEqual(viaEmail.segments.map((s) => s.id), [segmentId]);

  assert.deepEqual(
    await nudge.track.removeCustomersFromSegment(segmentId, [`${a}@example.com`], IdentifierType.Email),
    {},
  );
  await nudge.track.removeCustomersFromSegment(segmentId, [b]);

  assert.deepEqual((await nudge.api.getCustomerSegments(a)).segments, []);
  assert.deepEqual((await nudge.api.getCustomerSegments(b)).segments, []);
  assert.deepEqual((await nudge.api.getCustomerSegments(c)).segments.map((s) => s.id), [segmentId]);
});

test('addCustomersToSegment with idType email adds the person with that email', async () => {
  const { segment } = await nudge.api.createSegment({ name: unique('By email') });
  const id = unique('mail-seg');
  const email = `${id}@example.com`;
  await nudge.track.identify(id, { email });

  await nudge.track.addCustomersToSegment(segment.id, [email], 'email');

  assert.deepEqual((await nudge.api.getCustomerSegments(id)).segments.map((s) => s.id), [segment.id]);
});

test('addCustomersToSegment on a segment that does not exist is refused', async () => {
  const id = unique('orphan');
  await nudge.track.identify(id, {});
  await assert.rejects(nudge.track.addCustomersToSegment(987654, [id]), (err) => {
    assert.ok(err instanceof CustomerIORequestError);
    assert.ok(err.statusCode >= 400 && err.statusCode < 500, `status ${err.statusCode}`);
    assert.match(err.message, /987654|segment/i);
    return true;
  });
  assert.deepEqual((await nudge.api.getCustomerSegments(id)).segments, []);
});
