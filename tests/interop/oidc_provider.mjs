// A provider nobody here wrote: panva's oidc-provider, configured like an OIDC broker in front of
// login.gov.pl (eIDAS-named claims, PKCE required, attributes behind the userinfo endpoint).
// Started by tests/auth/test_interop.py on loopback; its dev interactions stand for the login page.
import Provider from "oidc-provider";

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const people = {
  "80010112357": {
    CurrentGivenName: "Jan",
    CurrentFamilyName: "Kowalski",
    DateOfBirth: "1980-01-01",
    PersonIdentifier: "PL/PL/80010112357",
    address: { street_address: "ul. Słowiańska 12/4", locality: "Leszno", postal_code: "64-100", country: "PL" },
  },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    post_logout_redirect_uris: [process.env.POST_LOGOUT_URI],
    grant_types: ["authorization_code"],
    response_types: ["code"],
  }],
  pkce: { required: () => true },
  scopes: ["openid", "profile"],
  claims: {
    openid: ["sub"],
    profile: ["CurrentGivenName", "CurrentFamilyName", "DateOfBirth", "PersonIdentifier", "address"],
  },
  findAccount: (ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, ...(people[id] || {}) }),
  }),
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: ["okienko-interop-test-only"] },
});
provider.proxy = false;
provider.listen(port, "127.0.0.1", () => console.log(`oidc-provider ready on ${issuer}`));
