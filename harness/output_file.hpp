// Every file dsbench writes (scorecards, JUnit, Markdown, HTML, compare JSON, case.json, reference-cache entries) goes
// through here, so that a target that is not ours to replace never is: a regular file (or a new
// one) is written to a temporary file beside it and renamed into place, so a reader never sees half
// a file and a failed write leaves the earlier file intact and no temporary behind; a symbolic link
// is followed to what it points at, as cp does; a character device, FIFO or socket is written in
// place (a FIFO without a reader is refused rather than waited on); a folder is refused.
#pragma once

#include <string>

namespace dsbench {

// Writes `text` to `path` as above; throws Error naming `what` (e.g. "--junit") and the path.
void write_output_file(const std::string& path, const std::string& text, const std::string& what);

// Before any work: throws Error when `path` could not be written (a folder, a device without write
// permission, a folder that cannot be created or written). Probes with a temporary file only where the
// output will be created by rename; a device or FIFO is asked with access(2), never touched.
void check_output_path(const std::string& path, const std::string& what);

// The same for a folder that will receive files (created if missing); `what` names the option.
void check_writable_folder(const std::string& dir, const std::string& what);

}  // namespace dsbench
