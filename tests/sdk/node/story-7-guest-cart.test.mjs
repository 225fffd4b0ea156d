// Story 7 of ../shared/scenarios/d2c-cosmetics.md, through the official SDKs against a live
// Nudge on each store (SQLite and PostgreSQL): a guest browses and fills cart-1 (84.00, two
// items) as an anonymous visitor, then gives her email; the page view, the product view and the
// cart must then belong to the known person, the anonymous profile must be gone, and a later
// message carrying only the anonymous id must land on her. Three ways in: the Pipelines SDK
// (@customerio/cdp-analytics-node, identify with userId + anonymousId), customerio-node's
// TrackClient (trackAnonymous, then identify with an `anonymous_id` attribute), and the Segment
// SDK's alias. Every state is read back through the App API. Event timestamps lie within the
// last hour, so the events stay trigger-eligible. Nothing waits by sleeping: each step waits
// for the SDK's flush promise or the HTTP answer.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import cdp from '@customerio/cdp-analytics-node';
import segment from '@segment/analytics-node';
import { useNudge, skipUnless, unique } from './nudge-server.mjs';

const MINUTE = 60_000;

/** Two items of cart-1, worth 84.00 together (the event contract's item shape). */
const ITEMS = [
  { product_id: 'vitc-serum', variant_id: 'vitc-serum-30ml', name: 'Vitamin C Serum', price: 54, quantity: 1, category: 'serum' },
  { product_id: 'gel-cleanser', variant_id: 'gel-cleanser-150ml', name: 'Gel Cleanser', price: 15, quantity: 2, category: 'cleanser' },
];
const VIEWED = { product_id: 'vitc-serum', variant_id: 'vitc-serum-30ml', category: 'serum', price: 54 };
const CART = { cart_id: 'cart-1', cart_value: 84, items: ITEMS };
const PAGE = { path: '/products/vitc-serum', url: 'https://lumenskin.example/products/vitc-serum' };

/** The guest's timeline, within the last hour: page at -30 min, view at -29, cart at -28. */
function timeline() {
  const now = Math.floor(Date.now() / 1000) * 1000; // whole seconds, compared with the API's
  return { page: new Date(now - 30 * MINUTE), view: new Date(now - 29 * MINUTE), cart: new Date(now - 28 * MINUTE) };
}
const seconds = (date) => date.getTime() / 1000;

/**
 * An SDK client (cdp-analytics-node or Segment) on Nudge, recording its requests, the
 * statuses answered (only Segment reports them) and every delivery failure.
 */
function analyticsClient(nudge, Analytics) {
  const analytics = new Analytics({
    writeKey: nudge.creds.pipelines_write_key,
    host: nudge.baseUrl,
    path: '/v1/batch',
    maxRetries: 0,
    flushInterval: 60_000,
  });
  const seen = { requests: 0, statuses: [], failures: [] };
  analytics.on('http_request', () => (seen.requests += 1));
  analytics.on('http_response', (response) => seen.statuses.push(response.status));
  analytics.on('error', (error) => seen.failures.push(error));
  return { analytics, seen };
}

/** Waits for the client's closeAndFlush and checks every message was delivered (200). */
async function flushed({ analytics, seen }) {
  await analytics.closeAndFlush();
  assert.deepEqual(seen.failures, [], 'every message was delivered');
  assert.ok(seen.requests > 0, 'the SDK sent something');
  assert.ok(seen.statuses.every((status) => status === 200), `statuses ${seen.statuses}`);
}

/** The App API's activities of a person by cio_id (so nothing depends on the id), all pages. */
async function allActivities(nudge, cio, query = '') {
  const res = await nudge.appGet(`/v1/customers/${encodeURIComponent(cio)}/activities?id_type=cio_id&limit=1000&${query}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.next, '', 'one page holds them all');
  return res.body.activities;
}

/**
 * The story's end state on the known person `id`: her identifiers and traits, the one anonymous
 * id, exactly the guest's events (each once, at its own time, trigger-eligible), the anonymous
 * profile gone (its cio_id finds nobody separate), and her email finding only her.
 * `page`: the page view expected (null when the path sent none). Returns her cio_id.
 */
async function assertStitched(nudge, { id, email, phone, anonymousId, times, page, how }) {
  const customer = await nudge.customer(id);
  assert.ok(customer, `${id} exists`);
  const cio = customer.identifiers.cio_id;
  assert.deepEqual(customer.identifiers, { id, email, cio_id: cio });
  assert.equal(customer.attributes.email, email);
  assert.equal(customer.attributes.first_name, 'Ana');
  assert.equal(customer.attributes.accepts_sms, true);
  assert.equal(customer.attributes.phone, phone, 'the phone (E.164) is hers');
  assert.deepEqual(customer.anonymous_ids, [anonymousId], 'the anonymous id is linked to her');

  const events = await allActivities(nudge, cio, 'type=event');
  assert.deepEqual(
    events.map((a) => a.name).sort(),
    ['Added to Cart', 'Product Viewed'],
    'the guest\'s view and cart, each once, and nothing else',
  );
  const viewed = events.find((a) => a.name === 'Product Viewed');
  assert.deepEqual(viewed.data, VIEWED);
  assert.equal(viewed.timestamp, seconds(times.view));
  const cart = events.find((a) => a.name === 'Added to Cart');
  assert.deepEqual(cart.data, CART, 'the cart with both items');
  assert.equal(cart.timestamp, seconds(times.cart));
  assert.equal(cart.can_trigger, true, 'the cart event is still trigger-eligible');
  assert.equal(cart.customer_id, id);

  const pages = await allActivities(nudge, cio, 'type=page');
  if (page) {
    assert.equal(pages.length, 1, JSON.stringify(pages));
    assert.equal(pages[0].name, page.name);
    assert.deepEqual(pages[0].data, page.data);
    assert.equal(pages[0].timestamp, seconds(times.page));
  } else {
    assert.deepEqual(pages, []);
  }

  // The audit trail names the anonymous profile that was folded in; it no longer exists apart.
  const stitches = await allActivities(nudge, cio, 'type=stitched');
  assert.equal(stitches.length, 1, JSON.stringify(stitches));
  const { data } = stitches[0];
  assert.equal(data.how, how, JSON.stringify(data));
  assert.equal(data.primary.cio_id, cio);
  const anonymousCio = data.secondary.cio_id;
  assert.ok(anonymousCio && anonymousCio !== cio, `the anonymous profile had its own cio_id: ${JSON.stringify(data)}`);
  const gone = await nudge.appGet(`/v1/customers/${encodeURIComponent(anonymousCio)}/attributes?id_type=cio_id`);
  if (gone.status !== 404) {
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    assert.equal(gone.body.customer.identifiers.cio_id, cio, 'the anonymous cio_id must not be a separate person');
  }
  const byEmail = await nudge.api.getCustomersByEmail(email);
  assert.deepEqual(byEmail.results.map((r) => r.cio_id), [cio], 'her email finds her alone');
  return cio;
}

/** After the stitch: a message carrying only the anonymous id landed on her, and only once. */
async function assertLateEventLanded(nudge, { id, cio, name }) {
  const late = await allActivities(nudge, cio, `name=${encodeURIComponent(name)}`);
  assert.equal(late.length, 1, JSON.stringify(late));
  assert.equal(late[0].customer_id, id);
  const events = (await allActivities(nudge, cio, 'type=event')).map((a) => a.name).sort();
  assert.deepEqual(events, ['Added to Cart', name, 'Product Viewed'].sort());
  const stitches = await allActivities(nudge, cio, 'type=stitched');
  assert.equal(stitches.length, 1, 'the late message created no second anonymous profile to fold in');
}

for (const store of ['sqlite', 'postgres']) {
  describe(`story 7 (guest cart, email captured later) on ${store}`, () => {
    const nudge = useNudge({ store });

    test('Pipelines SDK: anonymous page, view and cart, then identify with userId and anonymousId', async (t) => {
      if (!skipUnless(t, nudge)) return;
      const id = 'c-1001';
      const email = `ana.${unique('c1001')}@example.com`;
      const phone = '+33612345678';
      const anonymousId = unique('guest');
      const times = timeline();

      const guest = analyticsClient(nudge, cdp.Analytics);
      guest.analytics.page({ anonymousId, name: 'Vitamin C Serum', properties: PAGE, timestamp: times.page });
      guest.analytics.track({ anonymousId, event: 'Product Viewed', properties: VIEWED, timestamp: times.view });
      guest.analytics.track({ anonymousId, event: 'Added to Cart', properties: CART, timestamp: times.cart });
      await flushed(guest);
      assert.equal(await nudge.customer(id), null, 'nobody is known as c-1001 before she gives her email');
      assert.deepEqual((await nudge.api.getCustomersByEmail(email)).results, []);

      const known = analyticsClient(nudge, cdp.Analytics);
      known.analytics.identify({
        userId: id,
        anonymousId,
        traits: { email, first_name: 'Ana', accepts_sms: true, phone },
      });
      await flushed(known);
      const cio = await assertStitched(nudge, {
        id, email, phone, anonymousId, times, how: 'stitch',
        page: { name: 'Vitamin C Serum', data: PAGE },
      });

      const later = analyticsClient(nudge, cdp.Analytics);
      later.analytics.track({ anonymousId, event: 'Checkout Started', properties: { ...CART, checkout_id: 'co-1' } });
      await flushed(later);
      await assertLateEventLanded(nudge, { id, cio, name: 'Checkout Started' });
    });

    test('customerio-node TrackClient: trackAnonymous, then identify with anonymous_id', async (t) => {
      if (!skipUnless(t, nudge)) return;
      const id = 'c-2002';
      const email = `ana.${unique('c2002')}@example.com`;
      const phone = '+33612345679';
      const anonymousId = unique('guest');
      const times = timeline();

      const answers = [
        await nudge.track.trackAnonymous(anonymousId, {
          type: 'page', name: 'Vitamin C Serum', data: PAGE, timestamp: seconds(times.page),
        }),
        await nudge.track.trackAnonymous(anonymousId, { name: 'Product Viewed', data: VIEWED, timestamp: seconds(times.view) }),
        await nudge.track.trackAnonymous(anonymousId, { name: 'Added to Cart', data: CART, timestamp: seconds(times.cart) }),
      ];
      assert.deepEqual(answers, [{}, {}, {}]);
      assert.equal(await nudge.customer(id), null, 'nobody is known as c-2002 before she gives her email');

      assert.deepEqual(
        await nudge.track.identify(id, { email, anonymous_id: anonymousId, first_name: 'Ana', accepts_sms: true, phone }),
        {},
      );
      const cio = await assertStitched(nudge, {
        id, email, phone, anonymousId, times, how: 'stitch',
        page: { name: 'Vitamin C Serum', data: PAGE },
      });
      const customer = await nudge.customer(id);
      assert.equal(customer.attributes.anonymous_id, undefined, 'anonymous_id is a link, not an attribute');

      assert.deepEqual(await nudge.track.trackAnonymous(anonymousId, { name: 'Checkout Started', data: { ...CART, checkout_id: 'co-2' } }), {});
      await assertLateEventLanded(nudge, { id, cio, name: 'Checkout Started' });
    });

    test('Segment SDK: alias from the anonymous id to the user id stitches too', async (t) => {
      if (!skipUnless(t, nudge)) return;
      const id = 'c-3003';
      const email = `ana.${unique('c3003')}@example.com`;
      const phone = '+33612345670';
      const anonymousId = unique('guest');
      const times = timeline();

      const guest = analyticsClient(nudge, segment.Analytics);
      guest.analytics.page({ anonymousId, name: 'Vitamin C Serum', properties: PAGE, timestamp: times.page });
      guest.analytics.track({ anonymousId, event: 'Product Viewed', properties: VIEWED, timestamp: times.view });
      guest.analytics.track({ anonymousId, event: 'Added to Cart', properties: CART, timestamp: times.cart });
      await flushed(guest);

      // She signs up (a known person without the anonymous id), then the site aliases the guest.
      const known = analyticsClient(nudge, segment.Analytics);
      known.analytics.identify({ userId: id, traits: { email, first_name: 'Ana', accepts_sms: true, phone } });
      await flushed(known);
      assert.deepEqual((await nudge.customer(id)).anonymous_ids, [], 'not linked before the alias');
      assert.deepEqual(
        (await nudge.activities(id, 'type=event')).map((a) => a.name),
        [],
        'the guest\'s events are not hers before the alias',
      );

      const alias = analyticsClient(nudge, segment.Analytics);
      alias.analytics.alias({ previousId: anonymousId, userId: id });
      await flushed(alias);
      const cio = await assertStitched(nudge, {
        id, email, phone, anonymousId, times, how: 'alias',
        page: { name: 'Vitamin C Serum', data: PAGE },
      });

      const later = analyticsClient(nudge, segment.Analytics);
      later.analytics.track({ anonymousId, event: 'Checkout Started', properties: { ...CART, checkout_id: 'co-3' } });
      await flushed(later);
      await assertLateEventLanded(nudge, { id, cio, name: 'Checkout Started' });
    });
  });
}
