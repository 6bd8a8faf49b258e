"""Blueprint "mijn": Mijn leerID at /mijn, where people see which platforms know what about them, what happened
with their data, withdraw a consent and download everything leerID holds about them.

Only the signed-in person's own data, through MyData; a deactivated account is not signed in.
"""
from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext

from idp.attribute_text import label
from idp.my_data import MyData
from idp.web import N_, error_page, for_signed_in, services

bp = Blueprint("mijn", __name__, url_prefix="/mijn")
for_signed_in(bp, "mijn.index")
BRUSSELS = ZoneInfo("Europe/Brussels")

BASES = {
    "consent": N_("omdat jij (of je ouder) toestemming gaf"),
    "school-agreement": N_("omdat je school een afspraak heeft met dit platform"),
}
EVENTS = {  # what happened to the person (done by them, by their school, or by leerID)
    "attributes_released": N_("%(platform)s kreeg gegevens over jou."),
    "login": N_("Je meldde je aan."),
    "login_failed": N_("Iemand probeerde zich als jou aan te melden, met een fout wachtwoord."),
    "badge_login_failed": N_("Een aanmelding met je badge lukte niet."),
    "consent_given": N_("Toestemming gegeven aan %(platform)s."),
    "consent_withdrawn": N_("Toestemming ingetrokken voor %(platform)s. Het krijgt niets meer over jou."),
    "account_created": N_("Je leerID werd gemaakt."),
    "account_activated": N_("Je koos je wachtwoord."),
    "password_changed": N_("Je veranderde je wachtwoord. Op andere toestellen werd je afgemeld."),
    "account_deactivated": N_("Je account werd uitgeschakeld."),
    "account_reactivated": N_("Je account werkt weer."),
    "school_admin_deactivated": N_("Je school schakelde je account uit."),
    "school_admin_password_reset": N_("Je school stelde je wachtwoord opnieuw in."),
    "activation_letter_issued": N_("Je school maakte een brief met een code om je wachtwoord te kiezen."),
    "school_admin_appointed": N_("Je werd schoolbeheerder."),
    "school_admin_removed": N_("Je bent geen schoolbeheerder meer."),
    "roster_review_resolved": N_("Je werd op de lijst van een school gezet."),
    "scim_user_created": N_("Je school zette je op haar lijst."),
    "scim_user_changed": N_("Je school veranderde je gegevens."),
    "scim_user_left": N_("Je school haalde je van haar lijst."),
    "data_exported": N_("Je downloadde al je gegevens."),
    "consent_requested": N_("Je vroeg je ouder om toestemming voor %(platform)s."),
    "consent_refused": N_("Je ouder zei nee tegen %(platform)s."),
    "mandate_granted": N_("Iemand mag nu voor jou optreden (een mandaat)."),
    "mandate_proposed": N_("Er werd een mandaat voorgesteld om voor jou op te treden."),
    "mandate_accepted": N_("Een mandaat om voor jou op te treden werd aanvaard."),
    "mandate_used": N_("Iemand meldde zich voor jou aan bij %(platform)s."),
    "token_exchanged": N_("%(platform)s kreeg een sleutel om voor jou te werken, voor iemand met een mandaat."),
    "mandate_declined": N_("Een voorgesteld mandaat om voor jou op te treden werd geweigerd."),
    "mfa_enrolled": N_("Je stelde een app in die codes maakt om je aan te melden."),
    "mfa_removed": N_("Je verwijderde de app die codes maakt om je aan te melden."),
    "mfa_failed": N_("Iemand typte een foute code bij het aanmelden als jou."),
    "mfa_recovery_used": N_("Je meldde je aan met een herstelcode."),
    "mfa_recovery_codes_renewed": N_("Je maakte nieuwe herstelcodes."),
    "passkey_added": N_("Je voegde een passkey toe om je aan te melden."),
    "passkey_removed": N_("Een passkey om je aan te melden werd verwijderd."),
    "passkey_failed": N_("Een aanmelding met je passkey lukte niet."),
    "passkey_clone_detected": N_("Iemand probeerde zich aan te melden met een kopie van je passkey. leerID "
                                 "weigerde dat."),
    "mfa_reset": N_("Je tweede stap (je code-app en herstelcodes) werd gewist. Je stelt een nieuwe in bij je volgende "
                    "aanmelding."),
    "school_admin_mandate_registered": N_("Je school koppelde een ouder aan je leerID."),
    "school_admin_mandate_accepted": N_("Je school keurde een mandaat goed om voor jou op te treden."),
    "school_admin_mandate_revoked": N_("Je school trok een mandaat in om voor jou op te treden."),
    "mandate_letter_issued": N_("Je school maakte een brief met een code voor je ouder."),
    "backchannel_logout_sent": N_("%(platform)s kreeg bericht dat je afgemeld bent."),
    "backchannel_logout_failed": N_("leerID kon %(platform)s niet meteen laten weten dat je afgemeld bent. Het "
                                    "probeert het opnieuw."),
    "mandate_revoked": N_("Een mandaat om voor jou op te treden werd ingetrokken."),
    "badge_issued": N_("Je school maakte een badge waarmee je je aanmeldt."),
    "badge_revoked": N_("Je school zette je badge uit. Hij werkt niet meer."),
    "badge_settings_changed": N_("Je veranderde de instellingen voor badges van je school."),
    "session_ended": N_("Je werd afgemeld op een toestel."),
    "logged_out_everywhere": N_("Je werd overal afgemeld: op elk toestel en in elke app."),
    "device_policy_changed": N_("Je veranderde de instelling voor toestellen van je school."),
}
FOR_OTHERS = {  # what the person did for someone else (%(name)s)
    "attributes_released": N_("%(platform)s kreeg gegevens over %(name)s."),
    "school_admin_password_reset": N_("Je stelde het wachtwoord van %(name)s opnieuw in."),
    "activation_letter_issued": N_("Je maakte een brief met een code voor %(name)s."),
    "school_admin_deactivated": N_("Je schakelde het account van %(name)s uit."),
    "account_reactivated": N_("Je schakelde het account van %(name)s weer in."),
    "school_admin_appointed": N_("Je maakte %(name)s schoolbeheerder."),
    "school_admin_removed": N_("Je nam de taak van schoolbeheerder af van %(name)s."),
    "consent_given": N_("Je gaf voor %(name)s toestemming aan %(platform)s."),
    "consent_withdrawn": N_("Je trok voor %(name)s de toestemming voor %(platform)s in."),
    "roster_review_resolved": N_("Je zette %(name)s op de lijst van je school."),
    "consent_refused": N_("Je zei voor %(name)s nee tegen %(platform)s."),
    "mandate_used": N_("Je meldde je voor %(name)s aan bij %(platform)s."),
    "token_exchanged": N_("%(platform)s kreeg een sleutel om voor %(name)s te werken."),
    "school_admin_mandate_registered": N_("Je koppelde een ouder aan %(name)s."),
    "mfa_reset": N_("Je wiste de tweede stap van %(name)s."),
    "school_admin_mandate_accepted": N_("Je keurde een mandaat goed om voor %(name)s op te treden."),
    "school_admin_mandate_revoked": N_("Je trok een mandaat in om voor %(name)s op te treden."),
    "mandate_letter_issued": N_("Je maakte een brief met een code voor de ouder van %(name)s."),
    "badge_issued": N_("Je maakte een badge voor %(name)s."),
    "badge_revoked": N_("Je zette de badge van %(name)s uit."),
    "session_ended": N_("Je meldde %(name)s af op een toestel."),
    "logged_out_everywhere": N_("Je meldde %(name)s overal af."),
}
SOMETHING = N_("Er gebeurde iets met je account (%(event)s).")
SOMETHING_FOR = N_("Je deed iets voor %(name)s (%(event)s).")


def my_data() -> MyData:
    return services().my_data




def attribute_words(names) -> list[str]:
    """The attributes in the words the consent page uses too."""
    return [label(name, gettext) for name in names]


def basis_words(basis: str | None) -> str:
    return gettext(BASES[basis]) if basis in BASES else "–"


def describe(entry) -> str:
    if entry.for_whom is not None:
        text = FOR_OTHERS.get(entry.event, SOMETHING_FOR)
    else:
        text = EVENTS.get(entry.event, SOMETHING)
    return gettext(text, platform=entry.platform or gettext("een platform"), name=entry.for_whom or "",
                   event=entry.event)


def when(moment: datetime) -> str:
    return moment.astimezone(BRUSSELS).strftime("%d/%m/%Y %H:%M")


@bp.context_processor
def helpers():
    return {"attribute_words": attribute_words, "basis_words": basis_words, "describe": describe, "when": when}


def _page(template: str, section: str, status: int = 200, **context):
    me = my_data().person(g.actor_id)
    has_children = bool(services().mandates.represented_by(g.actor_id, "consent"))
    return make_response(render_template(template, me=me, section=section, has_children=has_children, **context),
                         status)


@bp.get("")
def index():
    return _page("mijn/index.html", "index")


@bp.get("/apps")
def apps():
    return _page("mijn/apps.html", "apps", platforms=my_data().platforms(g.actor_id))


@bp.post("/apps/<client_id>/intrekken")
def withdraw(client_id: str):
    """Withdraw a consent: the first press shows what it means, the confirming press (confirm=yes) does it."""
    if len(client_id) > 64 or not client_id.isprintable():
        return error_page("not_found", 404)
    data = my_data()
    platform = data.platform(g.actor_id, client_id)
    if platform is None or platform.consented_at is None:
        flash(gettext("Je had dit platform geen toestemming gegeven. Er is dus niets veranderd."), "nothing")
        return redirect(url_for("mijn.apps"), 303)
    if request.form.get("confirm") != "yes":
        return _page("mijn/withdraw.html", "apps", platform=platform)
    if data.withdraw(g.actor_id, client_id, actor_id=g.actor_id):
        flash(gettext("%(platform)s krijgt niets meer over jou. Wil je het later weer gebruiken? Dan vraagt het "
                      "eerst opnieuw om je toestemming.", platform=platform.name), "done")
    else:
        flash(gettext("Je had dit platform geen toestemming gegeven. Er is dus niets veranderd."), "nothing")
    return redirect(url_for("mijn.apps"), 303)


@bp.get("/geschiedenis")
def history():
    page = request.args.get("pagina", "1")
    found = my_data().history(g.actor_id, int(page) if page.isascii() and page.isdigit() and len(page) <= 5 else 1)
    return _page("mijn/history.html", "history", history=found)


@bp.get("/gegevens.json")
def download():
    """Everything leerID holds about the person, as a file (GDPR art. 15 and 20)."""
    body = json.dumps(my_data().export(g.actor_id), ensure_ascii=False, indent=2)
    response = make_response(body, 200)
    response.content_type = "application/json; charset=utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="mijn-leerid-gegevens.json"'
    return response
