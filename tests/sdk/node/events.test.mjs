// TrackClient.track / trackPageView / trackAnonymous, read back with
// APIClient.getCustomerActivities (type, name, limit and start cursor).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useNudge, ulid, unique } from './nudge-server.mjs';

const nudge = useNudge();

function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

test('track records an event with its data, ULID and timestamp; a repeated ULID is ignored', async () => {
  const id = unique('buyer');
  await nudge.track.identify(id, { plan: 'gold' });
  const eventId = ulid();
  const event = {
    name: 'Added to Cart',
    id: eventId,
    data: { cart_id: 'cart-1', cart_value: 84.5, items: [{ sku: 'serum', qty: 2 }] },
  };

  assert.deepEqual(await nudge.track.track(id, event), {});
  assert.deepEqual(await nudge.track.track(id, event), {}, 'a replay is still a success');

  const { activities } = await nudge.api.getCustomerActivities(id, { type: 'event' });
  assert.equal(activities.length, 1, `the repeated ULID was deduplicated: ${JSON.stringify(activities)}`);
  const [recorded] = activities;
  assert.equal(recorded.type, 'event');
  assert.equal(recorded.name, 'Added to Cart');
  assert.equal(recorded.event_id, eventId);
  assert.deepEqual(recorded.data, event.data);
  assert.ok(Math.abs(recorded.timestamp - nowSeconds()) <= 5, `receipt time, got ${recorded.timestamp}`);
});

test('track keeps a client timestamp in unix seconds and trims the name', async () => {
  const id = unique('ts');
  await nudge.track.identify(id, {});
  await nudge.track.track(id, { name: '  Order Completed  ', timestamp: 1_700_000_000, data: { total: 12 } });

  const { activities } = await nudge.api.getCustomerActivities(id, { name: 'Order Completed' });
  assert.equal(activities.length, 1, JSON.stringify(activities));
  assert.equal(activities[0].timestamp, 1_700_000_000);
  assert.equal(activities[0].data.total, 12);
});

test('trackPageView records a page activity named by the path; track type screen records a screen', async () => {
  const id = unique('viewer');
  await nudge.track.identify(id, {});
  assert.deepEqual(await nudge.track.trackPageView(id, 'https://shop.example.com/products/serum?ref=ad'), {});
  await nudge.track.track(id, { name: 'Home', type: 'screen', data: { tab: 'feed' } });

  const pages = (await nudge.api.getCustomerActivities(id, { type: 'page' })).activities;
  assert.deepEqual(
    pages.map((a) => [a.type, a.name]),
    [['page', 'https://shop.example.com/products/serum?ref=ad']],
  );
  const screens = (await nudge.api.getCustomerActivities(id, { type: 'screen' })).activities;
  assert.deepEqual(
    screens.map((a) => [a.type, a.name, a.data.tab]),
    [['screen', 'Home', 'feed']],
  );
  const events = (await nudge.api.getCustomerActivities(id, { type: 'event' })).activities;
  assert.deepEqual(events, [], 'page and screen views are not plain events');
});

test('track on an email identifier lands on the person with that email', async () => {
  const id = unique('byemail');
  const email = `${id}@example.com`;
  await nudge.track.identify(id, { email });
  await nudge.track.track(email, { name: 'Signed Up' });

  const { activities } = await nudge.api.getCustomerActivities(email, { idType: 'email', type: 'event' });
  assert.deepEqual(activities.map((a) => a.name), ['Signed Up']);
  const byId = await nudge.activities(id, 'type=event');
  assert.deepEqual(byId.map((a) => a.name), ['Signed Up']);
});

test('getCustomerActivities pages newest first with limit and the start cursor', async () => {
  const id = unique('pager');
  await nudge.track.identify(id, {});
  for (let i = 0; i < 5; i++) {
    await nudge.track.track(id, { name: `step-${i}` });
  }

  const names = [];
  let start;
  let pages = 0;
  do {
    const page = await nudge.api.getCustomerActivities(id, { type: 'event', limit: 2, start });
    assert.ok(page.activities.length <= 2, 'limit is honoured');
    names.push(...page.activities.map((a) => a.name));
    start = page.next || undefined;
    pages += 1;
    assert.ok(pages <= 4, 'the cursor terminates');
  } while (start);
  assert.deepEqual(names, ['step-4', 'step-3', 'step-2', 'step-1', 'step-0']);
});

test('trackAnonymous events move to the person identified with that anonymous_id', async () => {
  const anonymousId = unique('anon');
  assert.deepEqual(
    await nudge.track.trackAnonymous(anonymousId, { name: 'Product Viewed', data: { product_id: 'serum' } }),
    {},
  );

  const id = unique('known');
  await nudge.track.identify(id, { email: `${id}@example.com`, anonymous_id: anonymousId });

  const { customer } = await nudge.api.getAttributes(id);
  assert.deepEqual(customer.anonymous_ids, [anonymousId]);
  const events = await nudge.activities(id, 'type=event');
  assert.deepEqual(
    events.map((a) => [a.name, a.data.product_id]),
    [['Product Viewed', 'serum']],
  );

  // Later anonymous events for that anonymous_id land on the known person directly.
  await nudge.track.trackAnonymous(anonymousId, { name: 'Checkout Started' });
  const later = await nudge.activities(id, 'name=Checkout%20Started');
  assert.equal(later.length, 1, JSON.stringify(later));
});

test('trackAnonymous with an empty anonymous id sends an invite event that creates nobody', async () => {
  const recipient = `${unique('invitee')}@example.com`;
  assert.deepEqual(
    await nudge.track.trackAnonymous('', { name: 'Invited', data: { recipient, inviter: 'ana' } }),
    {},
  );
  assert.deepEqual((await nudge.api.getCustomersByEmail(recipient)).results, []);
});
