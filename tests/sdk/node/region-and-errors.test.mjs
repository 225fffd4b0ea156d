// TrackClient.getAccountRegion, pointing the SDK by a custom Region, and how failures reach the
// SDK: 401 for wrong keys, 400 with the server's message for invalid events.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrackClient, APIClient, Region, CustomerIORequestError, MissingParamError } from 'customerio-node';
import { useNudge, unique } from './nudge-server.mjs';

const nudge = useNudge();

function isRequestError(status, check = () => {}) {
  return (err) => {
    assert.ok(err instanceof CustomerIORequestError, `expected CustomerIORequestError, got ${err?.stack ?? err}`);
    assert.equal(err.statusCode, status, `status (body: ${err.body})`);
    check(err);
    return true;
  };
}

test('getAccountRegion answers us, this server as url, and the workspace id', async () => {
  const region = await nudge.track.getAccountRegion();
  assert.deepEqual(region, {
    url: nudge.baseUrl,
    region: 'us',
    environment_id: nudge.creds.workspace_id,
  });
});

test('a custom Region object points both clients at Nudge as well as the url option does', async () => {
  const region = new Region(nudge.trackUrl, nudge.apiUrl, `${nudge.baseUrl}/v1`);
  const track = new TrackClient(nudge.creds.site_id, nudge.creds.track_api_key, { region });
  const api = new APIClient(nudge.creds.app_api_key, { region });
  const id = unique('regional');

  await track.identify(id, { via: 'region' });

  assert.equal((await api.getAttributes(id)).customer.attributes.via, 'region');
});

test('a wrong Track API key is rejected with 401 and writes nothing', async () => {
  const id = unique('intruder');
  const wrongKey = new TrackClient(nudge.creds.site_id, 'not-the-key', { url: nudge.trackUrl });
  await assert.rejects(wrongKey.identify(id, { x: 1 }), isRequestError(401));
  await assert.rejects(wrongKey.track(id, { name: 'x' }), isRequestError(401));
  await assert.rejects(wrongKey.getAccountRegion(), isRequestError(401));

  const wrongSite = new TrackClient('not-the-site', nudge.creds.track_api_key, { url: nudge.trackUrl });
  await assert.rejects(wrongSite.identify(id, { x: 1 }), isRequestError(401));

  // A key opens one API only: the App key is no Track key.
  const appKeyAsTrack = new TrackClient(nudge.creds.site_id, nudge.creds.app_api_key, { url: nudge.trackUrl });
  await assert.rejects(appKeyAsTrack.identify(id, { x: 1 }), isRequestError(401));

  assert.equal(await nudge.customer(id), null, 'no rejected request created the person');
});

test('a wrong App API key is rejected with 401', async () => {
  const id = unique('private');
  await nudge.track.identify(id, { secret: 'yes' });
  const wrongKey = new APIClient('not-the-key', { url: nudge.apiUrl });
  await assert.rejects(wrongKey.getAttributes(id), isRequestError(401));
  await assert.rejects(wrongKey.getCustomersByEmail(`${id}@example.com`), isRequestError(401));

  const trackKeyAsApp = new APIClient(nudge.creds.track_api_key, { url: nudge.apiUrl });
  await assert.rejects(trackKeyAsApp.getAttributes(id), isRequestError(401));
});

test('a blank event name never leaves the SDK: it throws MissingParamError before sending', async () => {
  const id = unique('blank');
  await nudge.track.identify(id, {});
  assert.throws(() => nudge.track.track(id, { name: '   ' }), MissingParamError);
  assert.throws(() => nudge.track.trackAnonymous('anon-blank', { name: '' }), MissingParamError);
  assert.deepEqual(await nudge.activities(id, 'type=event'), []);
});

test('invalid events are refused with 400 and the message the server gave reaches err.message', async () => {
  const id = unique('invalid');
  await nudge.track.identify(id, {});

  await assert.rejects(
    nudge.track.track(id, { name: 'Bad Data', data: 'not-a-hash' }),
    isRequestError(400, (err) => {
      assert.equal(err.message, '1 error:\n  - event data must be a hash');
    }),
  );
  await assert.rejects(
    nudge.track.track(id, { name: 'n'.repeat(101) }),
    isRequestError(400, (err) => {
      assert.equal(err.message, '1 error:\n  - event name cannot be longer than 100 bytes');
    }),
  );
  await assert.rejects(
    nudge.track.track(id, { name: 'Bad Type', type: 'click' }),
    isRequestError(400, (err) => assert.match(err.message, /^1 error:\n {2}- .*type/)),
  );
  await assert.rejects(
    nudge.track.trackAnonymous('', { name: 'No Anonymous Id Nor Recipient' }),
    isRequestError(400, (err) => assert.match(err.message, /anonymous_id/)),
  );

  assert.deepEqual(await nudge.activities(id, 'type=event'), [], 'nothing was recorded');
});

test('invalid identify bodies are refused with the documented messages', async () => {
  const id = unique('bad-attrs');
  await assert.rejects(
    nudge.track.identify(id, { bio: 'b'.repeat(1001) }),
    isRequestError(400, (err) => {
      assert.equal(err.message, "1 error:\n  - value for attribute 'bio' cannot be longer than 1000 bytes");
    }),
  );
  await assert.rejects(
    nudge.track.identify(id, { id: '' }),
    isRequestError(400, (err) => assert.match(err.message, /id attribute cannot be an empty string/)),
  );
  assert.equal(await nudge.customer(id), null);
});

test('mergeCustomers with a secondary that is the primary itself is not a success that loses the person', async () => {
  const id = unique('self');
  await nudge.track.identify(id, { plan: 'gold' });
  await nudge.track.mergeCustomers('id', id, 'id', id).catch((err) => {
    assert.ok(err instanceof CustomerIORequestError);
    assert.equal(err.statusCode, 400);
  });
  const customer = await nudge.customer(id);
  assert.ok(customer, 'merging a person into itself must not delete it');
  assert.equal(customer.attributes.plan, 'gold');
});
