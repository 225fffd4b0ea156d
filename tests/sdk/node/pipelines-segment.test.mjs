// @segment/analytics-node, unchanged, pointed at a live Nudge through its own `host` and `path`
// settings: identify, track, page, screen, group and alias travel in the SDK's /v1/batch
// requests (with the writeKey and sentAt it puts in every body), and the state is read back
// through the App API. closeAndFlush/flush drive delivery; nothing waits by sleeping.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import segment from '@segment/analytics-node';
import { useNudge, unique } from './nudge-server.mjs';

const { Analytics } = segment;
const nudge = useNudge();

/** A Segment client on Nudge that records every request, response and delivery failure. */
function client(settings = {}) {
  const analytics = new Analytics({
    writeKey: nudge.creds.pipelines_write_key,
    host: nudge.baseUrl,
    path: '/v1/batch',
    maxRetries: 0,
    flushInterval: 60_000,
    ...settings,
  });
  const seen = { requests: [], statuses: [], failures: [] };
  analytics.on('http_request', (request) => seen.requests.push(JSON.parse(request.body)));
  analytics.on('http_response', (response) => seen.statuses.push(response.status));
  analytics.on('error', (error) => seen.failures.push(error));
  return { analytics, seen };
}

function delivered(seen) {
  assert.deepEqual(seen.failures, [], 'every message was delivered');
  assert.ok(seen.statuses.length > 0, 'the SDK sent something');
  assert.ok(seen.statuses.every((status) => status === 200), `statuses ${seen.statuses}`);
}

test('identify, track, page and screen in one batch land on the person', async () => {
  const { analytics, seen } = client();
  const id = unique('seg');
  analytics.identify({
    userId: id,
    traits: { email: `${id}@example.com`, plan: 'gold', createdAt: '2023-11-14T22:13:20.000Z' },
  });
  analytics.track({ userId: id, event: 'Order Completed', properties: { total: 42.5, currency: 'EUR' } });
  analytics.page({ userId: id, category: 'Docs', name: 'Pricing', properties: { url: 'https://shop.example.com/pricing' } });
  analytics.screen({ userId: id, name: 'Home', properties: { tab: 'feed' } });
  await analytics.closeAndFlush();
  delivered(seen);
  assert.equal(seen.requests.length, 1, 'one batch of four');
  const [body] = seen.requests;
  assert.equal(body.batch.length, 4);
  assert.equal(body.writeKey, nudge.creds.pipelines_write_key, 'Segment puts the write key in the body');
  assert.ok(body.sentAt, 'and sentAt');

  const customer = await nudge.customer(id);
  assert.equal(customer.attributes.plan, 'gold');
  assert.equal(customer.attributes.email, `${id}@example.com`);
  assert.equal(customer.attributes.created_at, 1_700_000_000);
  const [event] = await nudge.activities(id, 'type=event');
  assert.equal(event.name, 'Order Completed');
  assert.deepEqual(event.data, { total: 42.5, currency: 'EUR' });
  const [page] = await nudge.activities(id, 'type=page');
  assert.equal(page.name, 'Pricing');
  assert.deepEqual(page.data, { url: 'https://shop.example.com/pricing', category: 'Docs' });
  const [screen] = await nudge.activities(id, 'type=screen');
  assert.deepEqual([screen.name, screen.data], ['Home', { tab: 'feed' }]);
});

test('group relates the person to an object; alias stitches the anonymous visitor', async () => {
  const { analytics, seen } = client();
  const id = unique('seg-group');
  const anonymousId = unique('seg-anon');
  const company = unique('acme');
  analytics.track({ anonymousId, event: 'Browsed', properties: { page: 'home' } });
  await analytics.flush();
  analytics.alias({ previousId: anonymousId, userId: id });
  await analytics.flush();
  analytics.group({
    userId: id,
    groupId: company,
    traits: { name: 'Acme', object_type_id: '1', relationshipAttributes: { role: 'admin' } },
  });
  analytics.track({ anonymousId, event: 'After Alias' });
  await analytics.closeAndFlush();
  delivered(seen);

  const customer = await nudge.customer(id);
  assert.deepEqual(customer.anonymous_ids, [anonymousId]);
  const events = (await nudge.activities(id, 'type=event')).map((a) => a.name).sort();
  assert.deepEqual(events, ['After Alias', 'Browsed']);
  const object = await nudge.appGet(`/v1/objects/1/${company}/attributes`);
  assert.equal(object.status, 200, JSON.stringify(object.body));
  assert.deepEqual(object.body.object.attributes, { name: 'Acme' });
  assert.equal(object.body.object.relationships[0].identifiers.id, id);
  assert.deepEqual(object.body.object.relationships[0].relationship_attributes, { role: 'admin' });
});

test('batching: flushAt splits a burst into several requests, all delivered', async () => {
  const { analytics, seen } = client({ flushAt: 5 });
  const id = unique('seg-burst');
  for (let i = 0; i < 12; i++) analytics.track({ userId: id, event: 'Tick', properties: { i } });
  await analytics.closeAndFlush();
  delivered(seen);
  assert.ok(seen.requests.length >= 3, `${seen.requests.length} requests`);
  assert.ok(seen.requests.every((body) => body.batch.length <= 5));
  const ticks = await nudge.activities(id, 'type=event&limit=50');
  assert.deepEqual(ticks.map((a) => a.data.i).sort((a, b) => a - b), [...Array(12).keys()]);
});

test('a repeated messageId is delivered and ignored', async () => {
  const { analytics, seen } = client();
  const id = unique('seg-dup');
  const messageId = unique('segment-message');
  analytics.track({ userId: id, event: 'Paid', messageId });
  analytics.track({ userId: id, event: 'Paid', messageId });
  await analytics.closeAndFlush();
  delivered(seen);
  assert.equal((await nudge.activities(id, 'type=event')).length, 1);
});
