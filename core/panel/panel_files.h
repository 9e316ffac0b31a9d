// The admin panel's files as compiled into the binary (the table is generated from panel/ by
// embed.cmake at build time).
#ifndef CRMSYNC_CORE_PANEL_PANEL_FILES_H
#define CRMSYNC_CORE_PANEL_PANEL_FILES_H

#include <span>
#include <string_view>

namespace crmsync::panel::internal {

// One file of panel/.
struct PanelFile {
  std::string_view name;          // file name, e.g. "app.js" (panel/ is flat)
  std::string_view content_type;  // by extension
  std::string_view etag;          // quoted SHA-256 prefix of the content
  std::string_view bytes;         // the content
};

// Every file (panel/ and the packaged modules served beside it).
std::span<const PanelFile> panel_files();

}  // namespace crmsync::panel::internal

#endif  // CRMSYNC_CORE_PANEL_PANEL_FILES_H
