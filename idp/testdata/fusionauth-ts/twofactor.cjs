// Runs FusionAuth's own TypeScript client (@fusionauth/typescript-client)
// against a Gatehouse IdP through the second factor's calls (compat §16).
// Driven by TestFusionAuthTypeScriptClientTwoFactor (tsclient_test.go),
// which passes the IdP and its fixtures in the environment.
'use strict';
const crypto = require('crypto');
const { FusionAuthClient } = require('@fusionauth/typescript-client');

const env = process.env;
const client = new FusionAuthClient(env.GH_API_KEY, env.GH_URL);
// The IdP's (test) clock, so codes never straddle a step boundary.
const now = Number(env.GH_NOW_MS);

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of s.replace(/=+$/, '')) {
    value = ((value << 5) | alphabet.indexOf(c)) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// totp is RFC 6238 (HMAC-SHA1, 6 digits, 30 s) at ms.
function totp(secret, ms) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(Math.floor(ms / 30000)));
  const h = crypto.createHmac('sha1', base32Decode(secret)).update(msg).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

function check(cond, what) {
  if (!cond) {
    throw new Error('check failed: ' + what);
  }
}

async function main() {
  const secret = (await client.generateTwoFactorSecret()).response;
  check(secret.secret && secret.secretBase32Encoded, 'generateTwoFactorSecret answers both forms');

  const enabled = await client.enableTwoFactor(env.GH_USER_ID, {
    code: totp(secret.secretBase32Encoded, now),
    method: 'authenticator',
    secretBase32Encoded: secret.secretBase32Encoded,
  });
  check(enabled.statusCode === 200 && enabled.response.recoveryCodes.length === 10, 'enableTwoFactor answers ten recovery codes');

  let twoFactorId = '';
  try {
    await client.exchangeUserCredentialsForAccessToken(env.GH_EMAIL, env.GH_PASSWORD, env.GH_CLIENT_ID, env.GH_CLIENT_SECRET, 'offline_access', undefined);
    check(false, 'the password grant of a user with a second factor must fail');
  } catch (e) {
    check(e.statusCode === 400, 'two_factor_required is a 400, got ' + e.statusCode);
    check(e.exception.error === 'two_factor_required', 'error two_factor_required, got ' + JSON.stringify(e.exception));
    check(e.exception.two_factor_methods[0].method === 'authenticator', 'two_factor_methods');
    twoFactorId = e.exception.two_factor_id;
  }
  check(twoFactorId.length === 43, 'two_factor_id');

  // The next step's code: the enrolment code's step is used up, and the
  // IdP accepts one step of skew.
  const login = await client.twoFactorLogin({
    twoFactorId, code: totp(secret.secretBase32Encoded, now + 30000),
    applicationId: env.GH_CLIENT_ID, trustComputer: true,
  });
  check(login.statusCode === 200 && login.response.token && login.response.refreshToken, 'twoFactorLogin answers the tokens');
  check(login.response.user.id === env.GH_USER_ID && login.response.twoFactorTrustId, 'twoFactorLogin answers the user and a trust id');

  const refreshed = await client.exchangeRefreshTokenForJWT({ refreshToken: login.response.refreshToken });
  check(refreshed.statusCode === 200 && refreshed.response.token, 'the refresh token of a two-factor login works');

  const methodId = (await client.retrieveUser(env.GH_USER_ID)).response.user.twoFactor.methods[0].id;
  const disabled = await client.disableTwoFactor(env.GH_USER_ID, methodId, enabled.response.recoveryCodes[0]);
  check(disabled.statusCode === 200, 'disableTwoFactor with a recovery code');

  const plain = await client.exchangeUserCredentialsForAccessToken(env.GH_EMAIL, env.GH_PASSWORD, env.GH_CLIENT_ID, env.GH_CLIENT_SECRET, 'offline_access', undefined);
  check(plain.statusCode === 200 && plain.response.access_token, 'password grant after disabling');
  console.log('ok');
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : JSON.stringify(e));
  process.exit(1);
});
