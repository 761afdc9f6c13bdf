// An email the CRM sends through an agent's mailbox.
#pragma once

#include <string>
#include <vector>

namespace exsync::model {

struct Recipient {
  std::string name;  // optional display name
  std::string address;
  bool operator==(const Recipient&) const = default;
};

struct Attachment {
  std::string name;
  std::string content_type;
  std::string content_base64;  // as the CRM sent it; validated as Base64
  bool operator==(const Attachment&) const = default;
};

struct OutgoingMessage {
  std::string local_id;  // also the tag that finds it in Sent Items after an uncertain send
  std::vector<Recipient> to, cc, bcc;
  std::string subject;
  std::string body;
  bool html = false;
  std::vector<Attachment> attachments;
  bool operator==(const OutgoingMessage&) const = default;
};

}  // namespace exsync::model
