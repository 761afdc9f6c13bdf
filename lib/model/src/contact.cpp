#include "exsync/model/contact.hpp"

#include <algorithm>

namespace exsync::model {

void sort_by_key(Contact& c) {
  const auto by_key = [](const auto& a, const auto& b) { return a.key < b.key; };
  std::stable_sort(c.emails.begin(), c.emails.end(), by_key);
  std::stable_sort(c.phones.begin(), c.phones.end(), by_key);
  std::stable_sort(c.addresses.begin(), c.addresses.end(), by_key);
}

}  // namespace exsync::model
