#ifndef YAML_SCAN_FLOOR_H
#define YAML_SCAN_FLOOR_H
#include <stddef.h>

/// Parses `length` bytes with libyaml and discards every event; returns the event count, or -1 on a parse error.
long yaml_scan_floor(const unsigned char *bytes, size_t length);

#endif
