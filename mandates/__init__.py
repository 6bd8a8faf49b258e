"""The mandate store and acting on behalf."""
