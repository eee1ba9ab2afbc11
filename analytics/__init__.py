"""Analytics over the store's reports and cases: pure, testable functions (hotspot statistics, indicators,
the annual publication); `api/`, `cli/` and the pages are thin layers over them."""
