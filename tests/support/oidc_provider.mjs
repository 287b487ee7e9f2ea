// A real OpenID Connect provider for the console's tests: the npm package oidc-provider
// (installed by .ci/run under .cache/oidc-provider), with its development login page.
// Usage: node oidc_provider.mjs PORT REDIRECT_URI CLIENT_ID CLIENT_SECRET CLAIMS_JSON
// Listens on 127.0.0.1:PORT; any login is accepted and gets the claims given.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.resolve(process.env.OIDC_PROVIDER_MODULES, "x.js"));
const { default: Provider } = await import(require.resolve("oidc-provider"));

const [port, redirectUri, clientId, clientSecret, claimsJson] = process.argv.slice(2);
const extra = JSON.parse(claimsJson);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      response_types: ["code"],
      grant_types: ["authorization_code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  pkce: { required: () => true },
  claims: { openid: ["sub"], profile: ["preferred_username", "realm_access", "finess"] },
  conformIdTokenClaims: false,
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, preferred_username: id, ...extra }),
  }),
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid profile");
    await grant.save();
    return grant;
  },
  features: { devInteractions: { enabled: true } },
});
provider.listen(Number(port), "127.0.0.1", () => console.log(`ready ${issuer}`));
