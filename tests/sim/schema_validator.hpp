// SchemaValidator: checks incoming SOAP requests against Microsoft's EWS schema (libxml2), the way
// Exchange answers ErrorSchemaValidation for a malformed request.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace exsync::sim {

class SchemaValidator {
 public:
  // Compiles `dir`/soap-envelope.xsd (which imports messages.xsd and types.xsd); nullptr when
  // it cannot, with the reason in `problem`.
  static std::unique_ptr<SchemaValidator> load(const std::filesystem::path& dir, std::string& problem);
  ~SchemaValidator();

  // Empty when `xml` is valid; otherwise the first violation, with line and column.
  std::string validate(std::string_view xml);

 private:
  struct Impl;
  explicit SchemaValidator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace exsync::sim
