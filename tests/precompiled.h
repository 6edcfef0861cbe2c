// The tests' precompiled header (CMakeLists.txt): the heavy headers nearly every test includes (doctest,
// nlohmann/json: ~1.5 s of parsing per file; the standard library's), parsed once for all the tests instead of
// once per file. Every test still includes what it uses.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
