// @customerio/cdp-analytics-node, unchanged, pointed at a live Nudge through its own `host` and
// `path` settings. It posts `{"batch": [...]}` with neither writeKey nor sentAt; identify,
// track, page, screen, group and alias are read back through the App API. closeAndFlush drives
// delivery (this client has no other flush); nothing waits by sleeping.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import cdp from '@customerio/cdp-analytics-node';
import { useNudge, unique } from './nudge-server.mjs';

const { Analytics } = cdp;
const nudge = useNudge();

/** A CDP client on Nudge that records every request body and delivery failure. */
function client(settings = {}) {
  const analytics = new Analytics({
    writeKey: nudge.creds.pipelines_write_key,
    host: nudge.baseUrl,
    path: '/v1/batch',
    maxRetries: 0,
    flushInterval: 60_000,
    ...settings,
  });
  const seen = { requests: [], failures: [] };
  analytics.on('http_request', (request) => seen.requests.push(JSON.parse(request.body)));
  analytics.on('error', (error) => seen.failures.push(error));
  return { analytics, seen };
}

async function flushed({ analytics, seen }) {
  await analytics.closeAndFlush();
  assert.deepEqual(seen.failures, [], 'every message was delivered');
  assert.ok(seen.requests.length > 0, 'the SDK sent something');
}

test('identify, track, page and screen land on the person', async () => {
  const c = client();
  const id = unique('cdp');
  c.analytics.identify({ userId: id, traits: { email: `${id}@example.com`, plan: 'pro', createdAt: '2024-01-01T00:00:00Z' } });
  c.analytics.track({ userId: id, event: 'Added to Cart', properties: { sku: 'serum', qty: 2 } });
  c.analytics.page({ userId: id, name: 'Checkout', properties: { path: '/checkout' } });
  c.analytics.screen({ userId: id, name: 'Cart', properties: { items: 2 } });
  await flushed(c);
  const [body] = c.seen.requests;
  assert.equal(body.writeKey, undefined, 'the CDP client sends no writeKey');
  assert.equal(body.sentAt, undefined, 'nor sentAt');

  const customer = await nudge.customer(id);
  assert.equal(customer.attributes.plan, 'pro');
  assert.equal(customer.attributes.created_at, 1_704_067_200);
  const [event] = await nudge.activities(id, 'type=event');
  assert.deepEqual([event.name, event.data], ['Added to Cart', { sku: 'serum', qty: 2 }]);
  const [page] = await nudge.activities(id, 'type=page');
  assert.deepEqual([page.name, page.data], ['Checkout', { path: '/checkout' }]);
  const [screen] = await nudge.activities(id, 'type=screen');
  assert.deepEqual([screen.name, screen.data], ['Cart', { items: 2 }]);
});

test('group creates the object; identify with both ids stitches, alias links', async () => {
  const id = unique('cdp-group');
  const anonymousId = unique('cdp-anon');
  const company = unique('globex');
  const first = client();
  first.analytics.track({ anonymousId, event: 'Viewed Pricing' });
  first.analytics.identify({ anonymousId, traits: { utm_source: 'newsletter' } });
  await flushed(first);

  const second = client();
  second.analytics.identify({ userId: id, anonymousId, traits: { email: `${id}@example.com` } });
  second.analytics.group({
    userId: id,
    groupId: company,
    traits: { name: 'Globex', object_type_id: '3', relationshipAttributes: { seat: 'owner' } },
  });
  second.analytics.track({ anonymousId, event: 'Signed In' });
  const aliasAnon = unique('cdp-alias');
  second.analytics.track({ anonymousId: aliasAnon, event: 'Demo Booked' });
  await flushed(second);
  const third = client();
  third.analytics.alias({ previousId: aliasAnon, userId: id });
  await flushed(third);

  const customer = await nudge.customer(id);
  assert.equal(customer.attributes.utm_source, 'newsletter', 'anonymous traits came along');
  assert.deepEqual([...customer.anonymous_ids].sort(), [aliasAnon, anonymousId].sort());
  const events = (await nudge.activities(id, 'type=event')).map((a) => a.name).sort();
  assert.deepEqual(events, ['Demo Booked', 'Signed In', 'Viewed Pricing']);
  const object = await nudge.appGet(`/v1/objects/3/${company}/attributes`);
  assert.equal(object.status, 200, JSON.stringify(object.body));
  assert.deepEqual(object.body.object.attributes, { name: 'Globex' });
  assert.deepEqual(object.body.object.relationships[0].relationship_attributes, { seat: 'owner' });
});

test('batching: maxEventsInBatch splits a burst into several requests, all delivered', async () => {
  const c = client({ maxEventsInBatch: 4 });
  const id = unique('cdp-burst');
  for (let i = 0; i < 10; i++) c.analytics.track({ userId: id, event: 'Tick', properties: { i } });
  await flushed(c);
  assert.ok(c.seen.requests.length >= 3, `${c.seen.requests.length} requests`);
  assert.ok(c.seen.requests.every((body) => body.batch.length <= 4));
  const ticks = await nudge.activities(id, 'type=event&limit=50');
  assert.deepEqual(ticks.map((a) => a.data.i).sort((a, b) => a - b), [...Array(10).keys()]);
});

test('semantic events: a device from the context, then the person deleted', async () => {
  const id = unique('cdp-device');
  const first = client();
  first.analytics.identify({ userId: id, traits: {} });
  first.analytics.track({
    userId: id,
    event: 'Device Created or Updated',
    context: { device: { token: `apns-${id}`, type: 'ios' } },
    properties: { app_version: '1.4.0' },
  });
  await flushed(first);
  const customer = await nudge.customer(id);
  assert.deepEqual(
    customer.devices.map((d) => [d.id, d.platform, d.attributes.app_version]),
    [[`apns-${id}`, 'ios', '1.4.0']],
  );
  const second = client();
  second.analytics.track({ userId: id, event: 'User Deleted' });
  await flushed(second);
  assert.equal(await nudge.customer(id), null);
});
