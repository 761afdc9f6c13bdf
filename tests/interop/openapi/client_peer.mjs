// A CRM developer's first steps with a client generated from docs/openapi.yaml
// (swagger-typescript-api --js, run by tests/api/openapi_test.cpp): create a contact, PATCH it
// with If-Match (once with its ETag, once with a stale one), and read the changes feed.
//   node client_peer.mjs GENERATED_CLIENT.js BASE_URL TOKEN MAILBOX
// Prints one JSON object of what it saw.
const [clientPath, baseUrl, token, mailbox] = process.argv.slice(2);
const { Api } = await import(clientPath);
const api = new Api({ baseUrl, securityWorker: () => ({ headers: { Authorization: `Bearer ${token}` } }) });
const out = {};

const created = await api.v1.createContact(mailbox, { display_name: "Generated client lead", company: "Acme" });
out.create = { status: created.status, id: created.data.id, etag: created.data.etag, etag_header: created.headers.get("ETag") };

const patched = await api.v1.patchContact(mailbox, created.data.id, { job_title: "Buyer" },
                                          { headers: { "If-Match": created.data.etag } });
out.patch = { status: patched.status, job_title: patched.data.job_title, etag: patched.data.etag };

try {
  await api.v1.patchContact(mailbox, created.data.id, { job_title: "Seller" }, { headers: { "If-Match": created.data.etag } });
  out.stale = { status: 200 };
} catch (r) {
  // The generated client throws the response of a failed request, its error body as `error`.
  out.stale = { status: r.status, error: r.error?.error, current_job_title: r.error?.current?.job_title };
}

const feed = await api.v1.getChanges(mailbox, { cursor: 0 });
out.feed = { status: feed.status, cursor: feed.data.cursor, entries: feed.data.changes.length };
console.log(JSON.stringify(out));
