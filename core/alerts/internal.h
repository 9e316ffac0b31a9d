// Private helpers of the alerts subsystem, declared here so that the mailer and the alert
// composition share them and the tests can check the wire format.
#ifndef CRMSYNC_CORE_ALERTS_INTERNAL_H
#define CRMSYNC_CORE_ALERTS_INTERNAL_H

#include "alerts/alerts.h"

#include <string>
#include <string_view>

namespace crmsync::alerts::internal {

// UTF-8 text as RFC 2047 "B" encoded words of at most 75 characters, folded onto continuation
// lines ("\r\n "); empty text gives an empty string.
std::string encode_header_words(std::string_view text);

// Text as base64 in lines of 76 characters, each ending in CRLF, after turning bare LFs into CRLF.
std::string base64_lines(std::string_view text);

// The whole RFC 5322 message (headers and base64 body) with CRLF line ends.
std::string compose_message(const MailerOptions& options, const Email& email, store::Timestamp now,
                            const std::string& message_id);

}  // namespace crmsync::alerts::internal

#endif  // CRMSYNC_CORE_ALERTS_INTERNAL_H
