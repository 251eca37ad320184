// Runs FusionAuth's own TypeScript client (@fusionauth/typescript-client)
// against a Gatehouse IdP through the WebAuthn calls (compat §17), with a
// software authenticator (an ES256 key, attestation "none") in place of
// the browser. Driven by TestFusionAuthTypeScriptClientWebAuthn
// (tsclient_test.go), which passes the IdP and its fixtures in the
// environment.
'use strict';
const crypto = require('crypto');
const { FusionAuthClient } = require('@fusionauth/typescript-client');

const env = process.env;
const client = new FusionAuthClient(env.GH_API_KEY, env.GH_URL);
const origin = env.GH_ORIGIN;
const rpId = env.GH_RP_ID;
const applicationId = env.GH_CLIENT_ID;
const userId = env.GH_USER_ID;

function check(cond, what) {
  if (!cond) {
    throw new Error('check failed: ' + what);
  }
}

const b64url = (b) => Buffer.from(b).toString('base64url');
const sha256 = (b) => crypto.createHash('sha256').update(b).digest();

// cbor encodes the few CBOR types an attestation object needs.
function head(major, n) {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 256) return Buffer.from([(major << 5) | 24, n]);
  const b = Buffer.alloc(3);
  b[0] = (major << 5) | 25;
  b.writeUInt16BE(n, 1);
  return b;
}
function cbor(v) {
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') return Buffer.concat([head(3, Buffer.byteLength(v)), Buffer.from(v)]);
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  if (v instanceof Map) {
    const parts = [head(5, v.size)];
    for (const [k, x] of v) parts.push(cbor(k), cbor(x));
    return Buffer.concat(parts);
  }
  throw new Error('cbor: unsupported value');
}

// The software authenticator.
const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = publicKey.export({ format: 'jwk' });
const credId = crypto.randomBytes(16);
let counter = 0;

function authData(flags, extra) {
  const c = Buffer.alloc(4);
  c.writeUInt32BE(counter);
  return Buffer.concat([sha256(rpId), Buffer.from([flags]), c, extra]);
}

function assertion(options) {
  counter++;
  const cd = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin, crossOrigin: false }));
  const ad = authData(0x05, Buffer.alloc(0)); // UP, UV
  const signature = crypto.sign('sha256', Buffer.concat([ad, sha256(cd)]), { key: privateKey, dsaEncoding: 'der' });
  return {
    id: b64url(credId), type: 'public-key', clientExtensionResults: {},
    response: { authenticatorData: b64url(ad), clientDataJSON: b64url(cd), signature: b64url(signature), userHandle: b64url(userId) },
  };
}

async function main() {
  // applicationId is Gatehouse's (its relying party is the application's);
  // the client passes the request object through.
  const start = await client.startWebAuthnRegistration({ userId, displayName: 'Ann', name: 'Laptop', workflow: 'bootstrap', applicationId });
  const co = start.response.options;
  check(start.statusCode === 200 && co.challenge && co.rp.id === rpId && co.user.id === b64url(userId), 'startWebAuthnRegistration options');
  check(co.authenticatorSelection.userVerification === 'required', 'user verification required');

  const cd = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: co.challenge, origin, crossOrigin: false }));
  const coseKey = cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x, 'base64url')], [-3, Buffer.from(jwk.y, 'base64url')]]));
  const len = Buffer.alloc(2);
  len.writeUInt16BE(credId.length);
  const ad = authData(0x45, Buffer.concat([Buffer.alloc(16), len, credId, coseKey])); // UP, UV, AT
  const att = cbor(new Map([['fmt', 'none'], ['attStmt', new Map()], ['authData', ad]]));
  const done = await client.completeWebAuthnRegistration({
    userId, origin, rpId,
    credential: {
      id: b64url(credId), type: 'public-key', rpId, transports: ['internal'], clientExtensionResults: {},
      response: { attestationObject: b64url(att), clientDataJSON: b64url(cd) },
    },
  });
  const cred = done.response.credential;
  check(done.statusCode === 200 && cred.credentialId === b64url(credId) && cred.userId === userId && cred.name === 'Laptop', 'completeWebAuthnRegistration answers the credential');

  // A login by loginId lists the passkey.
  const ls = await client.startWebAuthnLogin({ applicationId, loginId: env.GH_EMAIL, workflow: 'general' });
  const ro = ls.response.options;
  check(ls.statusCode === 200 && ro.rpId === rpId && ro.allowCredentials[0].id === b64url(credId), 'startWebAuthnLogin options');
  const a = assertion(ro);
  const login = await client.completeWebAuthnLogin({ applicationId, origin, rpId, credential: a });
  check(login.statusCode === 200 && login.response.token && login.response.refreshToken && login.response.user.id === userId, 'completeWebAuthnLogin answers the tokens');
  const refreshed = await client.exchangeRefreshTokenForJWT({ refreshToken: login.response.refreshToken });
  check(refreshed.statusCode === 200 && refreshed.response.token, 'the refresh token of a passkey login works');
  try {
    await client.completeWebAuthnLogin({ applicationId, origin, rpId, credential: a });
    check(false, 'a replayed assertion must fail');
  } catch (e) {
    check(e.statusCode === 404, 'a replayed assertion is a 404, got ' + e.statusCode);
  }

  // Discoverable: no loginId, the user handle names the user.
  const ds = await client.startWebAuthnLogin({ applicationId });
  check(!ds.response.options.allowCredentials || ds.response.options.allowCredentials.length === 0, 'a discoverable start lists nothing');
  const again = await client.completeWebAuthnLogin({ applicationId, origin, rpId, credential: assertion(ds.response.options) });
  check(again.statusCode === 200 && again.response.user.id === userId, 'discoverable login');

  const list = await client.retrieveWebAuthnCredentialsForUser(userId);
  check(list.statusCode === 200 && list.response.credentials.length === 1 && list.response.credentials[0].signCount === 2, 'retrieveWebAuthnCredentialsForUser');
  const one = await client.retrieveWebAuthnCredential(cred.id);
  check(one.statusCode === 200 && one.response.credential.id === cred.id, 'retrieveWebAuthnCredential');
  const del = await client.deleteWebAuthnCredential(cred.id);
  check(del.statusCode === 200, 'deleteWebAuthnCredential');
  try {
    const s = await client.startWebAuthnLogin({ applicationId });
    await client.completeWebAuthnLogin({ applicationId, origin, rpId, credential: assertion(s.response.options) });
    check(false, 'a removed passkey must not sign in');
  } catch (e) {
    check(e.statusCode === 400, 'a removed passkey is a 400, got ' + e.statusCode);
  }
  console.log('ok');
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : JSON.stringify(e));
  process.exit(1);
});
