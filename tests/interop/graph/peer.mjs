// Microsoft's own clients against the tenant simulator: MSAL Node signs in (client credentials,
// ROPC, and a wrong password), the Graph JavaScript SDK pages a contacts delta round with its
// PageIterator through every nextLink to the deltaLink, reads the tags and the Sent Items the
// daemon wrote, and writes a contact (POST, then PATCH with If-Match). Prints one JSON object of
// what it saw; the test suite (tests/daemon/graph_peers_test.cpp) compares it with the daemon's
// store. Settings come as JSON in EXSYNC_PEER (see that test).
import * as msal from "@azure/msal-node";
import { Client, PageIterator } from "@microsoft/microsoft-graph-client";

const peer = JSON.parse(process.env.EXSYNC_PEER);
const host = new URL(peer.base).host;
const authority = `${peer.base}/${peer.tenant}`;
const out = {};

const app = new msal.ConfidentialClientApplication({
  auth: { clientId: peer.client_id, authority, clientSecret: peer.client_secret, knownAuthorities: [host] },
});
const appToken = await app.acquireTokenByClientCredential({ scopes: ["https://graph.microsoft.com/.default"] });
out.app_token = { ok: Boolean(appToken?.accessToken), expires: Boolean(appToken?.expiresOn) };

const publicApp = new msal.PublicClientApplication({ auth: { clientId: peer.client_id, authority, knownAuthorities: [host] } });
const delegated = await publicApp.acquireTokenByUsernamePassword({
  scopes: ["https://graph.microsoft.com/Contacts.ReadWrite.Shared"],
  username: peer.username,
  password: peer.password,
});
out.ropc = { ok: Boolean(delegated?.accessToken), account: delegated?.account?.username ?? null };
try {
  await publicApp.acquireTokenByUsernamePassword({
    scopes: ["https://graph.microsoft.com/Contacts.ReadWrite.Shared"],
    username: peer.username,
    password: "not-the-password",
  });
  out.wrong_password = "accepted";
} catch (e) {
  out.wrong_password = `${e.errorCode ?? ""} ${e.errorMessage ?? e.message}`;
}

const client = Client.init({
  authProvider: (done) => done(null, appToken.accessToken),
  baseUrl: `${peer.base}/graph`,
  defaultVersion: "v1.0",
  customHosts: new Set([new URL(peer.base).hostname]),
});
const user = `/users/${encodeURIComponent(peer.mailbox)}`;

// A whole delta round, seven contacts a page, through the SDK's own pager.
const first = await client
  .api(`${user}/contactFolders/contacts/contacts/delta`)
  .header("Prefer", 'IdType="ImmutableId", odata.maxpagesize=7')
  .get();
const contacts = [];
const pager = new PageIterator(client, first, (c) => {
  contacts.push({ id: c.id, display_name: c.displayName, change_key: c.changeKey });
  return true;
});
await pager.iterate();
out.contacts = contacts;
out.delta_link = pager.getDeltaLink() ?? null;
const again = await client.api(out.delta_link).get();
out.changes_after_round = again.value.length;

// What the daemon wrote: the tag on the CRM's contact, and the message in Sent Items.
const tagId = peer.tag_property;
const tagged = await client
  .api(`${user}/contactFolders/contacts/contacts`)
  .filter(`singleValueExtendedProperties/Any(ep: ep/id eq '${tagId}' and ep/value eq '${peer.crm_contact}')`)
  .get();
out.crm_contact = tagged.value.map((c) => c.displayName);
const sent = await client
  .api(`${user}/messages`)
  .filter(`singleValueExtendedProperties/Any(ep: ep/id eq '${tagId}' and ep/value eq '${peer.crm_message}')`)
  .select("id,isDraft")
  .get();
out.crm_message = sent.value.map((m) => ({ is_draft: m.isDraft }));

// A write of its own, which the daemon must then pick up.
const created = await client
  .api(`${user}/contactFolders/contacts/contacts`)
  .post({ displayName: "Peer Buyer", givenName: "Peer", emailAddresses: [{ address: "peer@example.com", name: "Peer" }] });
const patched = await client
  .api(`${user}/contacts/${encodeURIComponent(created.id)}`)
  .header("If-Match", created["@odata.etag"])
  .patch({ jobTitle: "Written by the Graph SDK" });
out.created = { id: created.id, changed: patched.changeKey !== created.changeKey };
try {
  await client
    .api(`${user}/contacts/${encodeURIComponent(created.id)}`)
    .header("If-Match", created["@odata.etag"])
    .patch({ jobTitle: "A stale write" });
  out.stale_patch = "accepted";
} catch (e) {
  out.stale_patch = `${e.statusCode} ${e.code}`;
}
process.stdout.write(JSON.stringify(out) + "\n");
