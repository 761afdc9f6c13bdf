#include "schema_validator.hpp"

#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

namespace exsync::sim {

struct SchemaValidator::Impl {
  xmlSchemaParserCtxtPtr parser = nullptr;
  xmlSchemaPtr schema = nullptr;
  std::string first_error;
  ~Impl() {
    if (schema) xmlSchemaFree(schema);
    if (parser) xmlSchemaFreeParserCtxt(parser);
  }
};

namespace {
void collect(void* ctx, const xmlError* err) {
  auto* impl = static_cast<std::string*>(ctx);
  if (!impl->empty() || !err) return;
  std::string msg = err->message ? err->message : "invalid";
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  *impl = "line " + std::to_string(err->line) + ": " + msg;
}
}  // namespace

SchemaValidator::SchemaValidator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SchemaValidator::~SchemaValidator() = default;

std::unique_ptr<SchemaValidator> SchemaValidator::load(const std::filesystem::path& dir, std::string& problem) {
  const auto file = dir / "soap-envelope.xsd";
  if (!std::filesystem::exists(file)) {
    problem = file.string() + " does not exist";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->parser = xmlSchemaNewParserCtxt(file.c_str());
  impl->schema = impl->parser ? xmlSchemaParse(impl->parser) : nullptr;
  if (!impl->schema) {
    problem = "cannot compile " + file.string();
    return nullptr;
  }
  return std::unique_ptr<SchemaValidator>(new SchemaValidator(std::move(impl)));
}

std::string SchemaValidator::validate(std::string_view xml) {
  std::string error;
  xmlDocPtr doc = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "request.xml", nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc) return "not well-formed XML";
  xmlSchemaValidCtxtPtr ctxt = xmlSchemaNewValidCtxt(impl_->schema);
  xmlSchemaSetValidStructuredErrors(ctxt, reinterpret_cast<xmlStructuredErrorFunc>(&collect), &error);
  const int rc = xmlSchemaValidateDoc(ctxt, doc);
  xmlSchemaFreeValidCtxt(ctxt);
  xmlFreeDoc(doc);
  if (rc != 0 && error.empty()) error = "invalid (code " + std::to_string(rc) + ")";
  return error;
}

}  // namespace exsync::sim
