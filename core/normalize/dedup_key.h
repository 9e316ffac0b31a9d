// The external id of records that come without one (CSV rows), DESIGN §4: the same sale imported
// twice, however it was formatted, gets the same id, and UNIQUE(business_id, external_id) drops
// the second copy.
//
//   external_id = "CSV-" + lowercase hex of SHA-256 over the UTF-8 bytes of
//                 rfc3339_utc(time) + "|" + e164 + "|" + minor + "|" + business_id
//
// e.g. "2025-11-17T11:30:00Z|+79123456789|150050|42": time as rfc3339_utc() writes it (seconds,
// and ".fff" only when there are milliseconds), the phone's E.164 without extension, the amount in
// minor units in decimal, the business id as stored.
#ifndef CRMSYNC_CORE_NORMALIZE_DEDUP_KEY_H
#define CRMSYNC_CORE_NORMALIZE_DEDUP_KEY_H

#include <cstdint>
#include <string>
#include <string_view>

#include "normalize/utc_time.h"

namespace crmsync::normalize {

// "CSV-" followed by 64 lowercase hex digits, as defined above.
std::string csv_dedup_id(UtcTime time, std::string_view e164, std::int64_t minor,
                         std::string_view business_id);

}  // namespace crmsync::normalize

#endif  // CRMSYNC_CORE_NORMALIZE_DEDUP_KEY_H
