// The simulator's misbehaviour, seen on the wire: each test talks to the real exsync-sim over
// TLS with a hand-driven Beast connection, so that it sees every answer the server writes, in
// order and when, whatever a client would make of them.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "codec.hpp"
#include "exsync/ews/namespaces.hpp"
#include "exsync/ews/requests.hpp"
#include "exsync/ews/responses.hpp"
#include "exsync/ews/write_requests.hpp"
#include "exsync/ews/xml.hpp"
#include "test_support.hpp"

namespace exsync::sim {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using RawResponse = bhttp::response<bhttp::string_body>;

const std::string kAgent1 = "agent1@contoso.onmicrosoft.com";
const std::string kAgent2 = "agent2@contoso.onmicrosoft.com";

// One TLS connection to the simulator. Writes are synchronous; reads wait at most a deadline.
class RawConnection {
 public:
  explicit RawConnection(test::Simulator& sim) : stream_(io_, ctx_) {
    ctx_.load_verify_file((sim.dir() / "ca.pem").string());
    ctx_.set_verify_mode(asio::ssl::verify_peer);
    beast::get_lowest_layer(stream_).connect({asio::ip::make_address("127.0.0.1"), sim.port()});
    stream_.handshake(asio::ssl::stream_base::client);
  }

  void write(std::string_view bytes) { asio::write(stream_, asio::buffer(bytes.data(), bytes.size())); }

  // The next response; nullopt when the server closed the connection or `timeout` passed.
  std::optional<RawResponse> read(std::chrono::milliseconds timeout = 3s) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64u << 20);
    beast::error_code ec;
    beast::get_lowest_layer(stream_).expires_after(timeout);
    bhttp::async_read(stream_, buffer_, parser, [&](beast::error_code e, std::size_t) { ec = e; });
    io_.restart();
    io_.run();
    if (ec) return std::nullopt;
    return parser.release();
  }

  // Whether the server wrote anything not yet read within `wait`: a byte in Beast's buffer, in
  // OpenSSL's, or on the socket.
  bool received_more_within(std::chrono::milliseconds wait) {
    std::this_thread::sleep_for(wait);
    return buffer_.size() > 0 || SSL_pending(stream_.native_handle()) > 0 ||
           beast::get_lowest_layer(stream_).socket().available() > 0;
  }

 private:
  asio::io_context io_;
  asio::ssl::context ctx_{asio::ssl::context::tls_client};
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

std::string header(const RawResponse& r, std::string_view name) {
  auto it = r.find(name);
  return it == r.end() ? std::string() : std::string(it->value());
}

std::string serialized(const RawResponse& r) {
  std::ostringstream out;
  out << r;
  return out.str();
}

bool is_guid(const std::string& s) {
  static const std::regex kGuid("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  return std::regex_match(s, kGuid);
}

class SimFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // HTTP Basic as the service account, so that a raw request needs no token.
    ASSERT_EQ(sim_.control("PUT", "/sim/tenant", R"({"basic_auth":true})").status, 204);
  }

  void put_fault(const std::string& json) { ASSERT_EQ(sim_.control("PUT", "/sim/faults/ews", json).status, 204) << json; }

  // A whole EWS request on the wire; `client_request_id` empty: none.
  std::string ews(const std::string& soap, const std::string& client_request_id, bool return_id = true) {
    std::string head = "POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\n";
    head += "Authorization: Basic " + base64_encode("svc-exsync@contoso.onmicrosoft.com:" + sim_.password()) + "\r\n";
    if (!client_request_id.empty()) {
      head += "client-request-id: " + client_request_id + "\r\n";
      if (return_id) head += "return-client-request-id: true\r\n";
    }
    return head + "Content-Length: " + std::to_string(soap.size()) + "\r\n\r\n" + soap;
  }

  std::string get_folder(const std::string& mailbox, const std::string& id) {
    return ews(ews::get_folder_request(mailbox, model::FolderKind::contacts), id);
  }

  boost::json::object stats() { return boost::json::parse(sim_.control("GET", "/sim/stats").body).as_object(); }

  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 3, .events = 0}};
};

// 1. Exchange Online echoes client-request-id (when asked) and adds its own request-id.
TEST_F(SimFaultsTest, EveryAnswerEchoesItsRequestsClientRequestIdWithAFreshRequestId) {
  RawConnection c(sim_);
  c.write(get_folder(kAgent1, "id-1"));
  auto first = c.read();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->result_int(), 200);
  EXPECT_EQ(header(*first, "client-request-id"), "id-1");
  EXPECT_TRUE(is_guid(header(*first, "request-id"))) << header(*first, "request-id");

  c.write(get_folder(kAgent2, "id-2"));
  auto second = c.read();
  ASSERT_TRUE(second);
  EXPECT_EQ(header(*second, "client-request-id"), "id-2");
  EXPECT_TRUE(is_guid(header(*second, "request-id")));
  EXPECT_NE(header(*second, "request-id"), header(*first, "request-id"));

  // Not asked to return it: only the server's own id.
  c.write(ews(ews::get_folder_request(kAgent1, model::FolderKind::contacts), "id-3", false));
  auto unasked = c.read();
  ASSERT_TRUE(unasked);
  EXPECT_EQ(header(*unasked, "client-request-id"), "");
  EXPECT_TRUE(is_guid(header(*unasked, "request-id")));

  // Errors too: a SOAP fault (no such mailbox).
  c.write(get_folder("nobody@contoso.onmicrosoft.com", "id-4"));
  auto error = c.read();
  ASSERT_TRUE(error);
  EXPECT_EQ(error->result_int(), 500);
  EXPECT_EQ(header(*error, "client-request-id"), "id-4");

  // Entra's token endpoint echoes it too, with its own x-ms-request-id.
  RawConnection entra(sim_);
  const std::string form = "client_id=6731de76-14a6-49ae-97bc-6eba6914391e&grant_type=password&scope=" +
                           http::form_encode("https://outlook.office365.com/EWS.AccessAsUser.All offline_access") +
                           "&username=" + http::form_encode("svc-exsync@contoso.onmicrosoft.com") +
                           "&password=" + http::form_encode(sim_.password());
  entra.write("POST /contoso.onmicrosoft.com/oauth2/v2.0/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              "Content-Type: application/x-www-form-urlencoded\r\nclient-request-id: token-1\r\n"
              "return-client-request-id: true\r\nContent-Length: " + std::to_string(form.size()) + "\r\n\r\n" + form);
  auto token = entra.read();
  ASSERT_TRUE(token);
  EXPECT_EQ(token->result_int(), 200) << token->body();
  EXPECT_EQ(header(*token, "client-request-id"), "token-1");
  EXPECT_TRUE(is_guid(header(*token, "x-ms-request-id")));
}

TEST_F(SimFaultsTest, WithEchoOffNoAnswerCarriesRequestIdsAsGromoxAnswers) {
  ASSERT_EQ(sim_.control("PUT", "/sim/tenant", R"({"echo_request_id":false})").status, 204);
  RawConnection c(sim_);
  c.write(get_folder(kAgent1, "id-1"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(header(*r, "client-request-id"), "");
  EXPECT_EQ(header(*r, "request-id"), "");
}

// 2. gromox 3.10: a second, stale answer to one request, on the same connection.
TEST_F(SimFaultsTest, AnswerTwiceFollowsACreateItemWithGromoxsEmptyAnswer) {
  put_fault(R"({"kind":"answer_twice","operation":"CreateItem","count":1})");
  model::Contact contact;
  contact.display_name = "Twice Answered";
  RawConnection c(sim_);
  c.write(ews(ews::create_item_request(kAgent1, model::FolderKind::contacts, contact, "tag-twice"), "create-1"));
  auto real = c.read();
  ASSERT_TRUE(real);
  EXPECT_EQ(real->result_int(), 200);
  EXPECT_NE(real->body().find("<t:ItemId "), std::string::npos) << real->body();
  auto stale = c.read();
  ASSERT_TRUE(stale) << "no second answer";
  EXPECT_EQ(stale->result_int(), 200);
  EXPECT_NE(stale->body().find("<m:CreateItemResponse "), std::string::npos);
  EXPECT_NE(stale->body().find("<m:ResponseCode>NoError</m:ResponseCode><m:Items/></m:CreateItemResponseMessage>"),
            std::string::npos)
      << stale->body();
  EXPECT_EQ(stale->body().find("ItemId"), std::string::npos);
  EXPECT_EQ(header(*real, "client-request-id"), "create-1");
  EXPECT_EQ(header(*stale, "client-request-id"), "create-1");
  EXPECT_FALSE(c.received_more_within(200ms));
  EXPECT_EQ(sim_.contacts(kAgent1).size(), 4u) << "the contact is created once";
}

TEST_F(SimFaultsTest, AnswerTwiceRepeatsAnyOtherAnswerByteForByte) {
  put_fault(R"({"kind":"answer_twice","operation":"GetFolder","mailbox":")" + kAgent2 + R"(","count":1})");
  RawConnection c(sim_);
  c.write(get_folder(kAgent2, "folder-1"));
  auto real = c.read();
  auto stale = c.read();
  ASSERT_TRUE(real && stale);
  EXPECT_EQ(real->result_int(), 200);
  EXPECT_EQ(header(*real, "client-request-id"), "folder-1");
  EXPECT_EQ(serialized(*stale), serialized(*real));
  // The fault is spent: the next request is answered once.
  c.write(get_folder(kAgent2, "folder-2"));
  auto next = c.read();
  ASSERT_TRUE(next);
  EXPECT_EQ(header(*next, "client-request-id"), "folder-2");
  EXPECT_FALSE(c.received_more_within(200ms));
}

// 3. A desynchronised proxy: from the faulted request on, the connection is one answer late.
TEST_F(SimFaultsTest, LateConnectionAnswersEachRequestWithTheOneBefore) {
  RawConnection c(sim_);
  c.write(get_folder(kAgent1, "a"));
  auto a = c.read();
  ASSERT_TRUE(a);
  EXPECT_EQ(header(*a, "client-request-id"), "a");

  put_fault(R"({"kind":"late","mailbox":")" + kAgent2 + R"(","count":1})");
  c.write(get_folder(kAgent2, "b"));
  auto answer_to_b = c.read();
  ASSERT_TRUE(answer_to_b);
  EXPECT_EQ(serialized(*answer_to_b), serialized(*a)) << "agent2's request gets agent1's previous answer";
  EXPECT_FALSE(c.received_more_within(300ms)) << "the held answer must wait for the next request";

  c.write(get_folder(kAgent1, "c"));
  auto answer_to_c = c.read();
  ASSERT_TRUE(answer_to_c);
  EXPECT_EQ(header(*answer_to_c, "client-request-id"), "b") << "the stray answer names its own request";
  EXPECT_NE(answer_to_c->body(), a->body()) << "it is agent2's folder, not agent1's";
  EXPECT_FALSE(c.received_more_within(300ms));

  c.write(get_folder(kAgent1, "d"));
  auto answer_to_d = c.read();
  ASSERT_TRUE(answer_to_d);
  EXPECT_EQ(header(*answer_to_d, "client-request-id"), "c");
  EXPECT_EQ(answer_to_d->body(), a->body());
}

TEST_F(SimFaultsTest, LateOnAFreshConnectionAnswersWithACopyOfItsOwnAnswerThenHoldsIt) {
  put_fault(R"({"kind":"late","count":1})");
  RawConnection c(sim_);
  c.write(get_folder(kAgent1, "x"));
  auto first = c.read();
  ASSERT_TRUE(first);
  EXPECT_EQ(header(*first, "client-request-id"), "x");
  EXPECT_FALSE(c.received_more_within(300ms));
  c.write(get_folder(kAgent2, "y"));
  auto second = c.read();
  ASSERT_TRUE(second);
  EXPECT_EQ(serialized(*second), serialized(*first)) << "the held answer to x, once more";
  // Another connection is in step.
  RawConnection other(sim_);
  other.write(get_folder(kAgent2, "z"));
  auto z = other.read();
  ASSERT_TRUE(z);
  EXPECT_EQ(header(*z, "client-request-id"), "z");
}

// 4. An answer written after the head alone; the unread body is then taken for a request.
TEST_F(SimFaultsTest, EarlyAnswerComesAfterTheHeadAndTheBodyIsReadAsTheNextRequest) {
  EXPECT_EQ(sim_.control("PUT", "/sim/faults/ews", R"({"kind":"early_answer","operation":"GetItem"})").status, 400)
      << "the operation is in the body, which the fault does not wait for";
  put_fault(R"({"kind":"early_answer","count":1})");
  const auto request = get_folder(kAgent1, "early-1");
  const auto body_at = request.find("\r\n\r\n") + 4;
  RawConnection c(sim_);
  c.write(request.substr(0, body_at));  // the head only: the server must not wait for the body
  auto early = c.read();
  ASSERT_TRUE(early) << "no answer before the body";
  EXPECT_EQ(early->result_int(), 500);
  EXPECT_NE(early->body().find("ErrorInternalServerError"), std::string::npos) << early->body();
  EXPECT_NE(early->body().find("<s:Fault>"), std::string::npos);
  EXPECT_EQ(header(*early, "client-request-id"), "early-1");

  c.write(request.substr(body_at));
  auto refused = c.read();
  ASSERT_TRUE(refused) << "the body, read as a request, is answered";
  EXPECT_EQ(refused->result_int(), 400);
  EXPECT_FALSE(refused->keep_alive());
  EXPECT_FALSE(c.read(1s)) << "and the connection closed";
  EXPECT_EQ(stats().at("faults").as_object().at("early_answer").as_int64(), 1);

  RawConnection next(sim_);
  next.write(get_folder(kAgent1, "after"));
  auto after = next.read();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->result_int(), 200);
}

// 5. gromox refuses a send yet keeps the copy in Sent Items, then answers a second time.
TEST_F(SimFaultsTest, SendRefusedSavedRefusesTheSendSavesTheCopyAndAnswersAgain) {
  put_fault(R"({"kind":"send_refused_saved","mailbox":")" + kAgent1 + R"(","count":1})");
  RawConnection c(sim_);
  // A contact's CreateItem does not meet the fault.
  model::Contact contact;
  contact.display_name = "Not a send";
  c.write(ews(ews::create_item_request(kAgent1, model::FolderKind::contacts, contact, "tag-contact"), "contact-1"));
  auto created = c.read();
  ASSERT_TRUE(created);
  EXPECT_EQ(created->result_int(), 200);

  model::OutgoingMessage m;
  m.local_id = "tag-refused";
  m.to = {{"Ann", "ann@example.com"}};
  m.subject = "Offer";
  m.body = "Hello";
  c.write(ews(ews::send_message_request(kAgent1, m), "send-1"));
  auto refused = c.read();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->result_int(), 500);
  EXPECT_NE(refused->body().find("ErrorInternalServerError"), std::string::npos) << refused->body();
  EXPECT_NE(refused->body().find("could not be sent"), std::string::npos);
  auto stale = c.read();
  ASSERT_TRUE(stale) << "no stale answer after the refusal";
  EXPECT_EQ(stale->result_int(), 200);
  EXPECT_NE(stale->body().find("<m:ResponseCode>NoError</m:ResponseCode><m:Items/></m:CreateItemResponseMessage>"),
            std::string::npos);
  EXPECT_EQ(header(*refused, "client-request-id"), "send-1");
  EXPECT_EQ(header(*stale, "client-request-id"), "send-1");

  // The copy is in Sent Items under the client's tag, and was never delivered.
  c.write(ews(ews::find_item_by_tag_request(kAgent1, "sentitems", "tag-refused"), "find-1"));
  auto found = c.read();
  ASSERT_TRUE(found);
  EXPECT_EQ(header(*found, "client-request-id"), "find-1");
  auto refs = ews::parse_find_item(found->body());
  ASSERT_TRUE(refs) << found->body();
  EXPECT_EQ(refs->size(), 1u);
  EXPECT_EQ(stats().at("refused_sends").as_int64(), 1);
  const auto sent = boost::json::parse(sim_.control("GET", "/sim/mailboxes/" + test::url_segment(kAgent1) + "/sent").body);
  EXPECT_EQ(sent.at("subject").as_string(), "Offer");
  EXPECT_FALSE(sent.at("delivered").as_bool());
}

// 6. gromox answers contact collections only entry by entry.
class PerEntryFieldsTest : public SimFaultsTest {
 protected:
  void SetUp() override {
    SimFaultsTest::SetUp();
    auto r = sim_.control("POST", "/sim/mailboxes/" + test::url_segment(kAgent1) + "/contacts", R"({
      "display_name":"Dana Cruz","given_name":"Dana","surname":"Cruz",
      "emails":[{"key":"EmailAddress1","address":"dana@example.com","name":"Dana"},
                {"key":"EmailAddress3","address":"d@work.example","name":""}],
      "phones":[{"key":"MobilePhone","number":"+1 555 0101"},{"key":"BusinessPhone","number":"+1 555 0102"},
                {"key":"IPPhone","number":"1234"}],
      "addresses":[{"key":"Home","street":"1 Main St","city":"Austin","state":"TX","postal_code":"78701","country":"US"},
                   {"key":"Business","street":"9 Elm","city":"Dallas","state":"TX","postal_code":"75201","country":"US"}]})");
    ASSERT_EQ(r.status, 201) << r.body;
    id_ = std::string(boost::json::parse(r.body).at("ews_id").as_string());
  }

  // The daemon's GetItem with its AdditionalProperties replaced by `properties`.
  std::string get_item(const std::string& properties) {
    auto soap = ews::get_item_request(kAgent1, model::FolderKind::contacts, {id_});
    const std::string open = "<t:AdditionalProperties>", close = "</t:AdditionalProperties>";
    const auto from = soap.find(open) + open.size();
    soap.replace(from, soap.find(close) - from, properties);
    return soap;
  }

  std::string fetch(const std::string& soap) {
    RawConnection c(sim_);
    c.write(ews(soap, "get-1"));
    auto r = c.read();
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->result_int(), 200) << r->body();
    return r->body();
  }

  // The contact element of a GetItem answer.
  static pugi::xml_node contact_of(pugi::xml_document& doc, const std::string& xml) {
    std::string problem;
    EXPECT_TRUE(ews::parse_document(doc, xml, problem)) << problem;
    return doc.find_node([](const pugi::xml_node& n) { return ews::is_element(n, ews::kTypesNs, "Contact"); });
  }

  static std::vector<std::string> keys(const pugi::xml_node& collection) {
    std::vector<std::string> out;
    for (auto e = collection.first_child(); e; e = e.next_sibling()) out.push_back(e.attribute("Key").value());
    return out;
  }

  const std::string kCollections =
      R"(<t:FieldURI FieldURI="contacts:DisplayName"/><t:FieldURI FieldURI="contacts:EmailAddresses"/>)"
      R"(<t:FieldURI FieldURI="contacts:PhoneNumbers"/><t:FieldURI FieldURI="contacts:PhysicalAddresses"/>)";
  std::string id_;
};

TEST_F(PerEntryFieldsTest, ExchangeAnswersTheCollectionForm) {
  pugi::xml_document doc;
  auto contact = contact_of(doc, fetch(get_item(kCollections)));
  ASSERT_TRUE(contact);
  EXPECT_EQ(keys(ews::child(contact, ews::kTypesNs, "EmailAddresses")), (std::vector<std::string>{"EmailAddress1", "EmailAddress3"}));
  EXPECT_EQ(keys(ews::child(contact, ews::kTypesNs, "PhoneNumbers")).size(), 3u);
  EXPECT_EQ(keys(ews::child(contact, ews::kTypesNs, "PhysicalAddresses")).size(), 2u);
}

TEST_F(PerEntryFieldsTest, WithPerEntryFieldsOnlyTheCollectionFormAnswersNoCollections) {
  ASSERT_EQ(sim_.control("PUT", "/sim/tenant", R"({"per_entry_fields_only":true})").status, 204);
  pugi::xml_document doc;
  auto contact = contact_of(doc, fetch(get_item(kCollections)));
  ASSERT_TRUE(contact);
  EXPECT_EQ(ews::child_text(contact, ews::kTypesNs, "DisplayName"), "Dana Cruz");
  for (const char* collection : {"EmailAddresses", "PhoneNumbers", "PhysicalAddresses"})
    EXPECT_FALSE(ews::child(contact, ews::kTypesNs, collection)) << collection;
}

TEST_F(PerEntryFieldsTest, WithPerEntryFieldsOnlyJustTheEntriesAskedAreAnswered) {
  ASSERT_EQ(sim_.control("PUT", "/sim/tenant", R"({"per_entry_fields_only":true})").status, 204);
  pugi::xml_document doc;
  auto contact = contact_of(
      doc, fetch(get_item(R"(<t:IndexedFieldURI FieldURI="contacts:EmailAddress" FieldIndex="EmailAddress1"/>)"
                          R"(<t:IndexedFieldURI FieldURI="contacts:EmailAddress" FieldIndex="EmailAddress2"/>)"
                          R"(<t:IndexedFieldURI FieldURI="contacts:PhoneNumber" FieldIndex="MobilePhone"/>)"
                          R"(<t:IndexedFieldURI FieldURI="contacts:PhysicalAddress:City" FieldIndex="Home"/>)")));
  ASSERT_TRUE(contact);
  EXPECT_EQ(keys(ews::child(contact, ews::kTypesNs, "EmailAddresses")), std::vector<std::string>{"EmailAddress1"});
  EXPECT_EQ(keys(ews::child(contact, ews::kTypesNs, "PhoneNumbers")), std::vector<std::string>{"MobilePhone"});
  auto addresses = ews::child(contact, ews::kTypesNs, "PhysicalAddresses");
  EXPECT_EQ(keys(addresses), std::vector<std::string>{"Home"});
  auto home = ews::child(addresses, ews::kTypesNs, "Entry");
  EXPECT_EQ(ews::child_text(home, ews::kTypesNs, "City"), "Austin");
  EXPECT_FALSE(ews::child(home, ews::kTypesNs, "Street"));
}

// The daemon asks entry by entry, and reads every entry back from either kind of server.
TEST_F(PerEntryFieldsTest, TheDaemonsGetItemReadsEveryEntryFromBothKindsOfServer) {
  const auto expected = [&] {
    model::Contact c;
    c.emails = {{"EmailAddress1", "dana@example.com", "Dana"}, {"EmailAddress3", "d@work.example", ""}};
    c.phones = {{"MobilePhone", "+1 555 0101"}, {"BusinessPhone", "+1 555 0102"}, {"IPPhone", "1234"}};
    c.addresses = {{"Home", "1 Main St", "Austin", "TX", "78701", "US"}, {"Business", "9 Elm", "Dallas", "TX", "75201", "US"}};
    return c;
  }();
  for (const bool per_entry_only : {false, true}) {
    ASSERT_EQ(sim_.control("PUT", "/sim/tenant", std::string(R"({"per_entry_fields_only":)") +
                                                     (per_entry_only ? "true" : "false") + "}").status, 204);
    const auto body = fetch(ews::get_item_request(kAgent1, model::FolderKind::contacts, {id_}));
    auto items = ews::parse_get_item(body, {id_});
    ASSERT_TRUE(items) << items.error().message << "\n" << body;
    ASSERT_EQ(items->items.size(), 1u);
    const auto& c = std::get<model::Contact>(items->items.front().payload);
    EXPECT_EQ(c.display_name, "Dana Cruz");
    auto sorted = [](auto v) {
      std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
      return v;
    };
    EXPECT_EQ(sorted(c.emails), sorted(expected.emails)) << per_entry_only;
    EXPECT_EQ(sorted(c.phones), sorted(expected.phones)) << per_entry_only;
    EXPECT_EQ(sorted(c.addresses), sorted(expected.addresses)) << per_entry_only;
  }
  sim_.expect_schema_valid_requests();
}

}  // namespace
}  // namespace exsync::sim
