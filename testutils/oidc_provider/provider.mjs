// A real OpenID Connect provider for the single sign-on tests: the certified `oidc-provider`
// package on loopback, with its development sign-in pages (any password; the login names the
// account). Started by testutils/oidc.py:
//   node provider.mjs READY_FILE PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
// It listens on 127.0.0.1:PORT (0: any free port) and writes its issuer URL to READY_FILE once ready.
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const [readyFile, port, clientId, clientSecret, redirectUri] = process.argv.slice(2);

// Three accounts: one per console role, and one with neither.
const ACCOUNTS = {
  olivia: { email: 'olivia@example.com', groups: ['support-operators'] },
  audrey: { email: 'audrey@example.com', groups: ['support-auditors', 'everyone'] },
  nina: { email: 'nina@example.com', groups: ['everyone'] },
};

const server = createServer();
server.listen(Number(port), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    async findAccount(ctx, id) {
      const account = ACCOUNTS[id];
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, email: account.email, email_verified: true, preferred_username: id, groups: account.groups };
        },
      };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username'],
      groups: ['groups'],
    },
    cookies: { keys: ['autoflow-test-oidc-provider-cookie-key'] },
    features: { devInteractions: { enabled: true } },
  });
  server.on('request', provider.callback());
  writeFileSync(readyFile, issuer);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
