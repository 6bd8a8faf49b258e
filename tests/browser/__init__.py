"""Page tests in headless Chromium."""
