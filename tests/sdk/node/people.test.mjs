// TrackClient.identify / destroy / suppress / unsuppress, each checked through the App API.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CustomerIORequestError } from 'customerio-node';
import { useNudge, unique } from './nudge-server.mjs';

const nudge = useNudge();

function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

async function rejectsWithStatus(promise, status) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof CustomerIORequestError, `expected CustomerIORequestError, got ${err}`);
    assert.equal(err.statusCode, status, `status (body: ${err.body})`);
    return true;
  });
}

test('identify creates a person with its attributes and answers {}', async () => {
  const id = unique('ana');
  const email = `${id}@example.com`;
  const before = nowSeconds();
  const reply = await nudge.track.identify(id, {
    email,
    first_name: 'Ana',
    created_at: 1_700_000_000,
    plan: 'trial',
    lifetime_value: 84.5,
    accepts_sms: true,
    address: { city: 'Lyon', zip: '69001' },
  });
  assert.deepEqual(reply, {});

  const { customer } = await nudge.api.getAttributes(id);
  assert.equal(customer.id, id);
  assert.equal(customer.identifiers.id, id);
  assert.equal(customer.identifiers.email, email);
  assert.match(customer.identifiers.cio_id, /\S/, 'a cio_id is assigned');
  assert.equal(customer.attributes.first_name, 'Ana');
  assert.equal(customer.attributes.created_at, 1_700_000_000);
  assert.equal(customer.attributes.plan, 'trial');
  assert.equal(customer.attributes.lifetime_value, 84.5);
  assert.equal(customer.attributes.accepts_sms, true);
  assert.deepEqual(customer.attributes.address, { city: 'Lyon', zip: '69001' });
  assert.equal(customer.unsubscribed, false);
  assert.deepEqual(customer.devices, []);
  const planSetAt = customer.timestamps.plan;
  assert.ok(planSetAt >= before - 1 && planSetAt <= nowSeconds() + 1, `timestamps.plan = ${planSetAt}`);
});

test('identify updates only what it names, and null removes an attribute', async () => {
  const id = unique('upd');
  await nudge.track.identify(id, { first_name: 'Bo', plan: 'trial', city: 'Oslo' });
  await nudge.track.identify(id, { plan: 'gold', city: null });

  const { customer } = await nudge.api.getAttributes(id);
  assert.equal(customer.attributes.plan, 'gold');
  assert.equal(customer.attributes.first_name, 'Bo', 'an update keeps what it does not name');
  assert.equal(customer.attributes.city, undefined, 'null removes the attribute');
  const changes = await nudge.activities(id, 'type=attribute_change');
  assert.equal(changes.length, 2, `one attribute_change per identify: ${JSON.stringify(changes)}`);
});

test('identify by an email-shaped identifier (sent as %40) creates a person keyed by email', async () => {
  const email = `${unique('mail')}@example.com`;
  await nudge.track.identify(email, { first_name: 'Cy' });

  const { customer } = await nudge.api.getAttributes(email, 'email');
  assert.equal(customer.identifiers.email, email);
  assert.equal(customer.identifiers.id, null, 'no id was given');
  assert.equal(customer.attributes.first_name, 'Cy');

  // Identify by a new id carrying that email: the id is assigned to the same person.
  const id = unique('cy');
  await nudge.track.identify(id, { email, plan: 'pro' });
  const { customer: byId } = await nudge.api.getAttributes(id);
  assert.equal(byId.identifiers.cio_id, customer.identifiers.cio_id, 'same person');
  assert.equal(byId.identifiers.id, id);
  assert.equal(byId.attributes.first_name, 'Cy');
  assert.equal(byId.attributes.plan, 'pro');
});

test('identifiers with reserved URL characters survive the SDK encoding', async () => {
  const id = `${unique('odd')} /?#&+%ü`;
  await nudge.track.identify(id, { marker: 'odd' });

  const { customer } = await nudge.api.getAttributes(id);
  assert.equal(customer.identifiers.id, id, 'the path identifier is decoded exactly once');
  assert.equal(customer.attributes.marker, 'odd');
});

test('identify by cio_<cio_id> changes the id', async () => {
  const oldId = unique('old');
  await nudge.track.identify(oldId, { plan: 'gold' });
  const cio = (await nudge.api.getAttributes(oldId)).customer.identifiers.cio_id;

  const newId = unique('new');
  await nudge.track.identify(`cio_${cio}`, { id: newId });

  const { customer } = await nudge.api.getAttributes(newId);
  assert.equal(customer.identifiers.cio_id, cio);
  assert.equal(customer.attributes.plan, 'gold');
  await rejectsWithStatus(nudge.api.getAttributes(oldId), 404);
  const { customer: byCio } = await nudge.api.getAttributes(cio, 'cio_id');
  assert.equal(byCio.identifiers.id, newId);
});

test('identify with unsubscribed "TRUE" sets the global unsubscribe', async () => {
  const id = unique('unsub');
  await nudge.track.identify(id, { unsubscribed: 'TRUE' });
  assert.equal((await nudge.api.getAttributes(id)).customer.unsubscribed, true);
  await nudge.track.identify(id, { unsubscribed: false });
  assert.equal((await nudge.api.getAttributes(id)).customer.unsubscribed, false);
});

test('destroy deletes the person, who can be created again', async () => {
  const id = unique('del');
  const email = `${id}@example.com`;
  await nudge.track.identify(id, { email, plan: 'gold' });
  assert.equal((await nudge.api.getCustomersByEmail(email)).results.length, 1);

  assert.deepEqual(await nudge.track.destroy(id), {});

  await rejectsWithStatus(nudge.api.getAttributes(id), 404);
  await rejectsWithStatus(nudge.api.getAttributes(email, 'email'), 404);
  assert.deepEqual((await nudge.api.getCustomersByEmail(email)).results, []);

  await nudge.track.identify(id, { again: true });
  const { customer } = await nudge.api.getAttributes(id);
  assert.equal(customer.attributes.again, true);
  assert.equal(customer.attributes.plan, undefined, 'a re-created person starts empty');
});

test('suppress deletes and blocks re-creation; unsuppress frees the identifiers without restoring', async () => {
  const id = unique('sup');
  const email = `${id}@example.com`;
  await nudge.track.identify(id, { email, plan: 'gold' });

  assert.deepEqual(await nudge.track.suppress(id), {});
  await rejectsWithStatus(nudge.api.getAttributes(id), 404);

  await nudge.track.identify(id, { plan: 'again' });
  await nudge.track.identify(email, { plan: 'again' });
  await rejectsWithStatus(nudge.api.getAttributes(id), 404);
  await rejectsWithStatus(nudge.api.getAttributes(email, 'email'), 404);

  assert.deepEqual(await nudge.track.unsuppress(id), {});
  await nudge.track.identify(id, { plan: 'back' });
  const { customer } = await nudge.api.getAttributes(id);
  assert.equal(customer.attributes.plan, 'back');
  assert.equal(customer.identifiers.email, null, 'unsuppress does not restore the old profile');
});
