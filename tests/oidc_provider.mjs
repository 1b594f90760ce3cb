// A real OpenID provider (npm oidc-provider) as the upstream of a generated server's OAuth
// front: node tests/oidc_provider.mjs PORT CALLBACK_URL RESOURCE AUDIENCE SCOPE
// It serves http://127.0.0.1:PORT, signs people in with its development login and consent
// forms (any login, any password), and prints a line per revoked grant for the tests.
import { generateKeyPairSync } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const [port, callbackUrl, resource, audience, scope] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

const provider = new Provider(issuer, {
  // The server's public client: PKCE, no secret (oauth/upstream.py).
  clients: [
    {
      client_id: 'mcp-server',
      token_endpoint_auth_method: 'none',
      redirect_uris: [callbackUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
  ],
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test', alg: 'RS256', use: 'sig' }] },
  cookies: { keys: ['oidc-provider-test'] },
  findAccount: (_ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId }) }),
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // The front asks, as an OpenID client, for no resource: the issuer is set up to issue
      // tokens for the server's API by default (Auth0 calls this the default audience).
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== resource) throw new errors.InvalidTarget();
        return { scope, audience, accessTokenFormat: 'jwt', accessTokenTTL: 3600 };
      },
    },
  },
});

provider.on('grant.revoked', (_ctx, grantId) => console.log(`grant.revoked ${grantId}`));
provider.on('server_error', (_ctx, error) => console.log(`server_error ${error}`));
provider.listen(Number(port), '127.0.0.1');
