// TrackClient.addDevice / deleteDevice, checked through the devices of APIClient.getAttributes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CustomerIORequestError } from 'customerio-node';
import { useNudge, unique } from './nudge-server.mjs';

const nudge = useNudge();

test('addDevice stores token, platform, last_used and the other keys as attributes', async () => {
  const id = unique('phone');
  await nudge.track.identify(id, {});
  const token = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

  const reply = await nudge.track.addDevice(id, token, 'ios', {
    last_used: 1_700_000_000,
    app_version: '2.1.0',
    device_os: '17.1',
    push_enabled: 'true',
  });
  assert.deepEqual(reply, {});

  const { customer } = await nudge.api.getAttributes(id);
  assert.deepEqual(customer.devices, [
    {
      id: token,
      platform: 'ios',
      last_used: 1_700_000_000,
      attributes: { app_version: '2.1.0', device_os: '17.1', push_enabled: 'true' },
    },
  ]);
});

test('addDevice with the same token updates that device instead of adding another', async () => {
  const id = unique('upgrade');
  await nudge.track.identify(id, {});
  await nudge.track.addDevice(id, 'fcm-token-1', 'android', { last_used: 1_700_000_000, app_version: '1.0' });
  await nudge.track.addDevice(id, 'fcm-token-1', 'android', { last_used: 1_700_000_500, app_version: '1.1' });

  const { devices } = (await nudge.api.getAttributes(id)).customer;
  assert.equal(devices.length, 1, JSON.stringify(devices));
  assert.equal(devices[0].last_used, 1_700_000_500);
  assert.equal(devices[0].attributes.app_version, '1.1');
});

test('addDevice without last_used defaults it to the time of the request', async () => {
  const id = unique('fresh');
  await nudge.track.identify(id, {});
  const before = Math.floor(Date.now() / 1000);
  await nudge.track.addDevice(id, 'tok-fresh', 'android');
  const after = Math.floor(Date.now() / 1000);

  const [device] = (await nudge.api.getAttributes(id)).customer.devices;
  assert.equal(device.id, 'tok-fresh');
  assert.equal(device.platform, 'android');
  assert.ok(
    Number.isInteger(device.last_used) && device.last_used >= before - 1 && device.last_used <= after + 1,
    `last_used defaults to the request time (unix seconds), got ${device.last_used}`,
  );
});

test('deleteDevice removes only the named token, even one with reserved URL characters', async () => {
  const id = unique('two-phones');
  await nudge.track.identify(id, {});
  const fcm = 'dGhpcyBpcyBhIHRva2Vu:APA91bH/x_y-z+w=';
  await nudge.track.addDevice(id, fcm, 'android');
  await nudge.track.addDevice(id, 'apns-keep', 'ios');
  assert.equal((await nudge.api.getAttributes(id)).customer.devices.length, 2);

  assert.deepEqual(await nudge.track.deleteDevice(id, fcm), {});

  const { devices } = (await nudge.api.getAttributes(id)).customer;
  assert.deepEqual(devices.map((d) => d.id), ['apns-keep']);
});

test('addDevice with an unknown platform is refused with the server message', async () => {
  const id = unique('pc');
  await nudge.track.identify(id, {});
  await assert.rejects(nudge.track.addDevice(id, 'tok-pc', 'windows'), (err) => {
    assert.ok(err instanceof CustomerIORequestError);
    assert.equal(err.statusCode, 400);
    assert.match(err.message, /^1 error:\n {2}- .*platform/);
    return true;
  });
  assert.deepEqual((await nudge.api.getAttributes(id)).customer.devices, []);
});
