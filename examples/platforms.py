"""The two demo platforms: what differs between them is data, not code."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    slug: str
    name: str
    tagline: str
    purpose: str  # registered at leerID as the client's purpose
    accent: str  # header and button colour; white text on it has a contrast ratio above 7:1
    default_port: int

    @property
    def cookie_name(self) -> str:
        """Cookies are per host, not per port: every server on 127.0.0.1 needs its own cookie name."""
        return f"{self.slug}_session"


PLATFORMS: dict[str, Platform] = {
    "rekenrups": Platform(
        slug="rekenrups", name="Leerplatform Rekenrups",
        tagline="Oefen rekenen op je eigen tempo, met oefeningen die bij jouw klas passen.",
        purpose="Rekenoefeningen op maat van de leerling", accent="#1e6b34", default_port=5001,
    ),
    "schoolportaal": Platform(
        slug="schoolportaal", name="Schoolportaal",
        tagline="Je lessenrooster, je agenda en de berichten van je school op één plek.",
        purpose="Lessenrooster, agenda en berichten van de school", accent="#5a2d82", default_port=5002,
    ),
}
