// TrackClient.entity and TrackClient.batch (Track API v2), checked through the App API,
// including APIClient.getObjectAttributes for objects and relationships.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CustomerIORequestError } from 'customerio-node';
import { useNudge, ulid, unique } from './nudge-server.mjs';

const nudge = useNudge();

test('entity runs person actions: identify, event, page, screen, add_device, delete_device', async () => {
  const id = unique('v2');
  const email = `${id}@example.com`;
  const person = { type: 'person', identifiers: { id } };

  assert.deepEqual(
    await nudge.track.entity({ ...person, action: 'identify', attributes: { email, plan: 'gold' } }),
    {},
  );
  const eventId = ulid();
  await nudge.track.entity({
    type: 'person',
    identifiers: { email },
    action: 'event',
    id: eventId,
    name: 'Order Completed',
    timestamp: 1_700_000_000,
    attributes: { order_id: 'o-1', total: 42 },
  });
  await nudge.track.entity({ ...person, action: 'page', name: '/checkout', attributes: { title: 'Checkout' } });
  await nudge.track.entity({ ...person, action: 'screen', name: 'Home' });
  await nudge.track.entity({
    ...person,
    action: 'add_device',
    device: { token: 'fcm-v2', platform: 'android', last_used: 1_700_000_100, attributes: { push_enabled: 'true' } },
  });

  const { customer } = await nudge.api.getAttributes(id);
  assert.equal(customer.identifiers.email, email);
  assert.equal(customer.attributes.plan, 'gold');
  assert.deepEqual(customer.devices, [
    { id: 'fcm-v2', platform: 'android', last_used: 1_700_000_100, attributes: { push_enabled: 'true' } },
  ]);

  const { activities } = await nudge.api.getCustomerActivities(id);
  const byType = (type) => activities.filter((a) => a.type === type);
  assert.deepEqual(
    byType('event').map((a) => [a.name, a.event_id, a.timestamp, a.data.order_id, a.data.total]),
    [['Order Completed', eventId, 1_700_000_000, 'o-1', 42]],
  );
  assert.deepEqual(byType('page').map((a) => [a.name, a.data.title]), [['/checkout', 'Checkout']]);
  assert.deepEqual(byType('screen').map((a) => a.name), ['Home']);

  await nudge.track.entity({ ...person, action: 'delete_device', device: { token: 'fcm-v2' } });
  assert.deepEqual((await nudge.api.getAttributes(id)).customer.devices, []);
});

test('entity delete, suppress and unsuppress act on the person', async () => {
  const gone = unique('v2-del');
  await nudge.track.entity({ type: 'person', action: 'identify', identifiers: { id: gone }, attributes: { a: 1 } });
  await nudge.track.entity({ type: 'person', action: 'delete', identifiers: { id: gone } });
  assert.equal(await nudge.customer(gone), null, 'deleted');

  const blocked = unique('v2-sup');
  await nudge.track.entity({ type: 'person', action: 'identify', identifiers: { id: blocked }, attributes: { a: 1 } });
  await nudge.track.entity({ type: 'person', action: 'suppress', identifiers: { id: blocked } });
  await nudge.track.entity({ type: 'person', action: 'identify', identifiers: { id: blocked }, attributes: { a: 2 } });
  assert.equal(await nudge.customer(blocked), null, 'suppressed ids are not re-created');
  await nudge.track.entity({ type: 'person', action: 'unsuppress', identifiers: { id: blocked } });
  await nudge.track.entity({ type: 'person', action: 'identify', identifiers: { id: blocked }, attributes: { a: 3 } });
  assert.equal((await nudge.customer(blocked)).attributes.a, 3);
});

test('entity identifies an object with a relationship, read back with getObjectAttributes', async () => {
  const personId = unique('member');
  const objectId = unique('acme');
  await nudge.track.identify(personId, {});

  assert.deepEqual(
    await nudge.track.entity({
      type: 'object',
      action: 'identify',
      identifiers: { object_type_id: '1', object_id: objectId },
      attributes: { name: 'Acme', tier: 'pro' },
      cio_relationships: [{ identifiers: { id: personId }, relationship_attributes: { role: 'admin' } }],
    }),
    {},
  );

  const { object } = await nudge.api.getObjectAttributes('1', objectId);
  assert.deepEqual(object.attributes, { name: 'Acme', tier: 'pro' });
  assert.equal(object.relationships.length, 1, JSON.stringify(object.relationships));
  assert.equal(object.relationships[0].identifiers.id, personId);
  assert.deepEqual(object.relationships[0].relationship_attributes, { role: 'admin' });

  await nudge.track.entity({
    type: 'person',
    action: 'delete_relationships',
    identifiers: { id: personId },
    cio_relationships: [{ identifiers: { object_type_id: '1', object_id: objectId } }],
  });
  assert.deepEqual((await nudge.api.getObjectAttributes('1', objectId)).object.relationships, []);

  await nudge.track.entity({ type: 'object', action: 'delete', identifiers: { object_type_id: '1', object_id: objectId } });
  await assert.rejects(nudge.api.getObjectAttributes('1', objectId), (err) => err.statusCode === 404);
});

test('batch applies mixed operations in order and answers {}', async () => {
  const a = unique('batch-a');
  const b = unique('batch-b');
  const reply = await nudge.track.batch([
    { type: 'person', action: 'identify', identifiers: { id: a }, attributes: { plan: 'gold' } },
    { type: 'person', action: 'event', identifiers: { id: a }, name: 'Batched Event', attributes: { n: 1 } },
    { type: 'person', action: 'identify', identifiers: { id: b }, attributes: { plan: 'free', city: 'Oslo' } },
    { type: 'person', action: 'merge', primary: { id: a }, secondary: { id: b } },
  ]);
  assert.deepEqual(reply, {});

  const { customer } = await nudge.api.getAttributes(a);
  assert.equal(customer.attributes.plan, 'gold');
  assert.equal(customer.attributes.city, 'Oslo', 'the merge ran after both identifies');
  const events = (await nudge.api.getCustomerActivities(a, { type: 'event' })).activities;
  assert.deepEqual(events.map((e) => [e.name, e.data.n]), [['Batched Event', 1]]);
});

test('batch with invalid items resolves with 207 errors naming them; the valid items commit', async () => {
  const good = unique('batch-good');
  const reply = await nudge.track.batch([
    { type: 'person', action: 'identify', identifiers: { id: good }, attributes: { n: 1 } },
    { type: 'person', action: 'event', identifiers: { id: good }, name: '' },
    { type: 'person', action: 'fly', identifiers: { id: good } },
    { type: 'person', action: 'event', identifiers: { id: good }, name: 'Valid After Invalid' },
  ]);
  assert.ok(Array.isArray(reply.errors), `207 body: ${JSON.stringify(reply)}`);
  assert.deepEqual(reply.errors.map((e) => e.batch_index), [1, 2]);
  assert.match(reply.errors[0].message, /event name must not be blank/);
  for (const error of reply.errors) {
    assert.equal(typeof error.reason, 'string');
    assert.equal(typeof error.message, 'string');
  }

  const { customer } = await nudge.api.getAttributes(good);
  assert.equal(customer.attributes.n, 1);
  const events = (await nudge.api.getCustomerActivities(good, { type: 'event' })).activities;
  assert.deepEqual(events.map((e) => e.name), ['Valid After Invalid']);
});

test('entity with a blank event name is refused with 400 and writes nothing', async () => {
  const id = unique('blank-v2');
  await nudge.track.identify(id, {});
  await assert.rejects(
    nudge.track.entity({ type: 'person', action: 'event', identifiers: { id }, name: '   ' }),
    (err) => {
      assert.ok(err instanceof CustomerIORequestError);
      assert.equal(err.statusCode, 400);
      const body = JSON.parse(err.body);
      assert.ok(Array.isArray(body.errors), `v2 error shape: ${err.body}`);
      assert.match(body.errors[0].message, /event name must not be blank/);
      return true;
    },
  );
  assert.deepEqual((await nudge.api.getCustomerActivities(id, { type: 'event' })).activities, []);
});
