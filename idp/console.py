"""Blueprint "console": the school console at /beheer, where a school's administrators manage its people and
choose the school-agreement platforms that serve them.

The views turn HTTP into calls on SchoolAdministration, which checks on every call that the signed-in person
administers the school today. Whatever is not theirs (another school, its people or classes, a malformed id)
gets the very same 404 page as what does not exist.
"""
from __future__ import annotations

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

from idp.enrol_views import second_factor_first
from idp.errors import NotFound
from idp.school_admin import Refused
from idp.school_mandates import SchoolMandates
from idp.web import N_, error_page, for_signed_in, services

bp = Blueprint("console", __name__, url_prefix="/beheer")
for_signed_in(bp, "console.index")
# An administrator's session has a second factor: a password-only one is stepped up first (issue 6, item 3).
second_factor_first(bp, "console.index", applies=lambda: bool(admin().schools_of(g.actor_id)))

ROLE_FILTERS = {"leerling": ("pupil",), "personeel": ("teacher", "staff")}  # ?rol= in the search
ROLE_NAMES = {"pupil": N_("leerling"), "teacher": N_("leerkracht"), "staff": N_("personeel"), "parent": N_("ouder")}
CHANGES = {  # /personen/<id>/<word>: the SchoolAdministration method, and what the administrator is told after
    "uitschakelen": ("deactivate", N_("Het account van %(name)s is uitgeschakeld. %(name)s kan zich niet meer "
                                      "aanmelden.")),
    "inschakelen": ("reactivate", N_("Het account van %(name)s werkt weer. %(name)s kan zich opnieuw aanmelden.")),
    "beheerder": ("appoint", N_("%(name)s is nu schoolbeheerder.")),
    "geen-beheerder": ("dismiss", N_("%(name)s is geen schoolbeheerder meer.")),
    "tweede-stap": ("reset_second_factor", N_("De tweede stap van %(name)s is gewist. %(name)s is overal afgemeld "
                                              "en stelt bij de volgende aanmelding een nieuwe in.")),
}
LETTERS = {"wachtwoord": "reset_password", "brief": "person_letter"}  # answered with a page to print
REFUSALS = {
    "self": N_("Dat kun je niet voor je eigen account doen. Je eigen wachtwoord verander je in Mijn leerID."),
    "elsewhere": N_("Deze persoon hoort ook bij een andere school. Daarom kan alleen de helpdesk van leerID dit "
                    "account veranderen. Vraag het hun."),
    "administrator": N_("Deze persoon is schoolbeheerder. Een nieuw wachtwoord of een nieuwe brief voor een "
                        "schoolbeheerder regelt de helpdesk van leerID. Vraag het hun."),
    "not_ours": N_("Dit account is uitgeschakeld door de helpdesk van leerID, niet door je school. Alleen de "
                   "helpdesk kan het weer inschakelen. Vraag het hun."),
    "last_admin": N_("Dit is de laatste schoolbeheerder van je school. Maak eerst iemand anders schoolbeheerder."),
    "not_staff": N_("Alleen leerkrachten en personeelsleden van je school kunnen schoolbeheerder worden."),
    "disabled": N_("Dit account is uitgeschakeld. Schakel het eerst weer in."),
    "already_active": N_("Dit account werkt al."),
    "already_disabled": N_("Dit account is al uitgeschakeld."),
    "already_admin": N_("Deze persoon is al schoolbeheerder."),
    "not_admin": N_("Deze persoon is geen schoolbeheerder."),
    "has_password": N_("Deze persoon heeft al een wachtwoord. Stel het wachtwoord opnieuw in als het vergeten is."),
    "no_agreement": N_("Vul de naam of het nummer van de verwerkersovereenkomst in. Zonder verwerkersovereenkomst "
                       "kun je een platform niet aanzetten."),
    "agreement_too_long": N_("Deze naam of dit nummer is te lang. Gebruik hoogstens 200 tekens."),
    "not_activated": N_("Je school gebruikt dit platform niet. Er is niets om uit te zetten."),
    "not_pupil": N_("Alleen voor een leerling van je school kun je een ouder koppelen."),
    "adult": N_("Deze leerling is volwassen. Een ouder koppelen kan alleen voor een leerling jonger dan 18 jaar."),
    "no_parent_given": N_("Vul de gebruikersnaam of het e-mailadres van de ouder in."),
    "no_parent": N_("We vinden geen leerID van een volwassene met deze gebruikersnaam of dit e-mailadres. Kijk het "
                    "na. Heeft de ouder nog geen leerID? Vraag het aan de helpdesk van leerID."),
    "several_parents": N_("Meer dan één leerID heeft dit e-mailadres. Vul de gebruikersnaam van de ouder in."),
    "already_linked": N_("Deze ouder is al gekoppeld aan deze leerling, of de koppeling wacht nog op de ouder. Kijk "
                         "bij Mandaten."),
    "own_link": N_("Jezelf als ouder koppelen kan niet. Vraag het aan een andere schoolbeheerder."),
    "own_mandate": N_("Dit mandaat is voor jou. Een andere schoolbeheerder moet het goedkeuren."),
    "not_waiting": N_("Dit mandaat wacht niet (meer) op de goedkeuring van de school. Er is niets veranderd."),
    "no_letter_needed": N_("Dit mandaat wacht niet (meer) op de ouder. Een nieuwe brief is niet nodig."),
    "ended": N_("Dit mandaat is al afgelopen of ingetrokken. Er is niets veranderd."),
    "no_mandate": N_("Een tweede stap wissen kan alleen met een mandaat om het account van deze persoon te beheren. "
                     "Vraag het aan de helpdesk van leerID."),
    "no_second_factor": N_("Deze persoon heeft geen tweede stap ingesteld. Er is niets om te wissen."),
    "other_school": N_("Dit mandaat is van een andere school. Alleen die school of de helpdesk van leerID kan het "
                       "intrekken."),
}
WRONG_INPUT = ("no_agreement", "agreement_too_long")  # put right in the form
PARENT_INPUT = ("no_parent_given", "no_parent", "several_parents", "already_linked", "own_link")  # at the field
MANDATE_CHANGES = {  # /mandaten/<id>/<word>: the SchoolMandates method, and what the administrator is told after
    "aanvaarden": ("accept", N_("Het mandaat voor %(name)s is goedgekeurd.")),
    "intrekken": ("revoke", N_("Het mandaat voor %(name)s is ingetrokken. Het werkt meteen niet meer.")),
    "brief": ("new_letter", None),  # answered with a letter to print
}
MANDATE_TYPES = {"parent": N_("ouder"), "school": N_("school"), "assistant": N_("vertrouwenspersoon")}
MANDATE_ACTIONS = {"login": N_("aanmelden in zijn of haar naam"), "consent": N_("toestemming geven of weigeren"),
                   "manage-account": N_("het account beheren"), "view-activity": N_("zien wat er gebeurde")}


def admin():
    return services().school_admin


def school_mandates() -> SchoolMandates:
    container = services()
    return SchoolMandates(container.db, container.mandates)


@bp.errorhandler(NotFound)
def not_theirs(_exc):
    return error_page("not_found", 404)


@bp.context_processor
def words():
    return {"role_name": lambda role: gettext(ROLE_NAMES.get(role, role)),
            "mandate_type": lambda kind: gettext(MANDATE_TYPES.get(kind, kind)),
            "mandate_actions": lambda actions: [gettext(MANDATE_ACTIONS.get(a, a)) for a in actions],
            "mandate_state": mandate_state}


def mandate_state(row) -> str:
    """Active, waiting for whom, not begun yet, ended or revoked: in words."""
    if row.state == "proposed" and row.awaiting:
        parties = {"actor": gettext("de ouder") if row.type == "parent" else gettext("de vertrouwenspersoon"),
                   "represented": row.person_name, "school": gettext("de school")}
        return gettext("wacht op %(who)s", who=", ".join(parties[p.split(":")[0]] for p in row.awaiting))
    if row.state == "proposed":
        return gettext("begint op %(date)s", date=row.valid_from.strftime("%d/%m/%Y"))
    return {"active": gettext("actief"), "expired": gettext("afgelopen"),
            "revoked": gettext("ingetrokken")}.get(row.state, row.state)


def _page(template: str, number: str, status: int = 200, **context):
    console = admin().console(g.actor_id, number)
    return make_response(render_template(template, console=console, **context), status)


def _url_id(text: str) -> int:
    """A class id (or mandate id) from the URL; anything else is NotFound, like one that does not exist."""
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise NotFound("no such class or mandate")
    return int(text)


def _page_number(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 5 else 1


@bp.get("")
def index():
    schools = admin().schools_of(g.actor_id)
    if not schools:
        return error_page("not_school_admin", 403)
    if len(schools) == 1:
        return redirect(url_for("console.school", number=schools[0].number), 303)
    return render_template("beheer/choose.html", schools=schools)


@bp.get("/<number>")
def school(number: str):
    overview = admin().overview(g.actor_id, number)
    return _page("beheer/school.html", number, overview=overview, classes=admin().classes(g.actor_id, number),
                 section="school")


@bp.get("/<number>/personen")
def people(number: str):
    text = request.args.get("q", "")[:100]
    role = request.args.get("rol", "")
    klas, page = request.args.get("klas", ""), request.args.get("pagina", "1")
    found = admin().search(g.actor_id, number, text=text, roles=ROLE_FILTERS.get(role),
                           class_id=_url_id(klas) if klas else None, page=_page_number(page))
    query = {k: v for k, v in (("q", text), ("rol", role if role in ROLE_FILTERS else ""), ("klas", klas)) if v}
    return _page("beheer/people.html", number, found=found, q=text, rol=query.get("rol", ""), klas=klas,
                 query=query, classes=admin().classes(g.actor_id, number), section="people")


@bp.get("/<number>/personen/<account_id>")
def person(number: str, account_id: str):
    return _person_page(number, account_id)


def _person_page(number: str, account_id: str, status: int = 200, refused: str | None = None, typed: str = ""):
    """The person's page; after a refusal its reason, at the parent form when it is about what was typed there."""
    detail = admin().person(g.actor_id, number, account_id)
    parents = school_mandates().for_person(g.actor_id, number, account_id)
    at_field = refused in PARENT_INPUT
    return _page("beheer/person.html", number, status, detail=detail, parents=parents, section="people",
                 refused=gettext(REFUSALS[refused]) if refused and not at_field else None,
                 parent_error=gettext(REFUSALS[refused]) if at_field else None, typed=typed)


@bp.post("/<number>/personen/<account_id>/ouder")
def register_parent(number: str, account_id: str):
    """A parent registered by hand: the letter with the code to print (400 for what to put right, else 409)."""
    typed = request.form.get("ouder", "")
    try:
        letter = school_mandates().register_parent(g.actor_id, number, account_id, typed)
    except Refused as exc:
        return _person_page(number, account_id, 400 if exc.reason in PARENT_INPUT else 409, exc.reason, typed[:300])
    return _link_letter(letter, url_for("console.person", number=number, account_id=account_id))


@bp.post("/<number>/personen/<account_id>/<word>")
def change(number: str, account_id: str, word: str):
    """An action on a person: done and confirmed (303 back to the person), or refused with the reason (409)."""
    if word not in CHANGES and word not in LETTERS:
        raise NotFound("no such action")
    method, done = CHANGES.get(word, (LETTERS.get(word), None))
    try:
        result = getattr(admin(), method)(g.actor_id, number, account_id)
    except Refused as exc:
        return _person_page(number, account_id, 409, exc.reason)
    back = url_for("console.person", number=number, account_id=account_id)
    if done is None:
        return _letters(result, back)
    flash(gettext(done, name=result.name), "done")
    if method == "dismiss" and result.id == g.actor_id:  # no longer theirs to manage
        return redirect(url_for("console.index"), 303)
    return redirect(back, 303)


@bp.get("/<number>/klassen")
def classes(number: str):
    return _page("beheer/classes.html", number, classes=admin().classes(g.actor_id, number), section="classes")


@bp.get("/<number>/klassen/<class_id>")
def school_class(number: str, class_id: str):
    detail = admin().school_class(g.actor_id, number, _url_id(class_id))
    return _page("beheer/class.html", number, detail=detail, section="classes")


@bp.post("/<number>/klassen/<class_id>/brieven")
def class_letters(number: str, class_id: str):
    found = _url_id(class_id)
    letters = admin().class_letters(g.actor_id, number, found, everyone=request.form.get("wie") == "iedereen")
    return _letters(letters, url_for("console.school_class", number=number, class_id=found))


def _letters(letters, back: str):
    """New activation codes, shown once as a page to print: never cached, never in a URL, never stored."""
    html = render_template("beheer/letters.html", letters=letters, back=back,
                           activation_url=f"{services().settings.issuer}/activeren")
    return make_response(html, 200)


@bp.get("/<number>/platformen")
def platforms(number: str):
    return _platforms_page(number)


def _platforms_page(number: str, refused: Refused | None = None, client_id: str = "", typed: str = ""):
    """The platforms page; after a refusal, the reason at that platform's form: 400 and the field marked when the
    administrator typed something wrong (what they typed kept), else 409."""
    wrong_input = refused is not None and refused.reason in WRONG_INPUT
    status = 200 if refused is None else (400 if wrong_input else 409)
    return _page("beheer/platforms.html", number, status,
                 platforms=admin().platforms(g.actor_id, number), section="platforms",
                 refused=gettext(REFUSALS[refused.reason]) if refused else None, refused_for=client_id,
                 wrong_input=wrong_input, typed=typed)


@bp.post("/<number>/platformen/<client_id>/aanzetten")
def activate_platform(number: str, client_id: str):
    typed = request.form.get("overeenkomst", "")
    try:
        done = admin().activate_platform(g.actor_id, number, client_id, typed)
    except Refused as exc:
        return _platforms_page(number, exc, client_id, typed[:300])
    flash(gettext("%(platform)s staat nu aan. De leerlingen en leerkrachten van je school kunnen zich er nu "
                  "aanmelden.", platform=done.name), "done")
    return redirect(url_for("console.platforms", number=number), 303)


@bp.post("/<number>/platformen/<client_id>/uitzetten")
def end_platform(number: str, client_id: str):
    try:
        done = admin().end_platform(g.actor_id, number, client_id)
    except Refused as exc:
        return _platforms_page(number, exc, client_id)
    flash(gettext("%(platform)s staat nu uit. De leerlingen en leerkrachten van je school kunnen zich er niet "
                  "meer aanmelden.", platform=done.name), "done")
    return redirect(url_for("console.platforms", number=number), 303)


@bp.get("/<number>/mandaten")
def mandates(number: str):
    return _mandates_page(number)


def _mandates_page(number: str, status: int = 200, refused: str | None = None):
    text = request.args.get("q", "")[:100]
    found = school_mandates().page(g.actor_id, number, text=text, page=_page_number(request.args.get("pagina", "1")))
    return _page("beheer/mandates.html", number, status, found=found, q=text, query={"q": text} if text else {},
                 section="mandates", refused=gettext(REFUSALS[refused]) if refused else None)


@bp.post("/<number>/mandaten/<mandate_id>/<word>")
def change_mandate(number: str, mandate_id: str, word: str):
    """Approve, revoke or print a new letter: done (303 back to the list, or the letter), or refused (409)."""
    if word not in MANDATE_CHANGES:
        raise NotFound("no such action")
    method, done = MANDATE_CHANGES[word]
    found = _url_id(mandate_id)
    try:
        result = getattr(school_mandates(), method)(g.actor_id, number, found)
    except Refused as exc:
        return _mandates_page(number, 409, exc.reason)
    back = url_for("console.mandates", number=number)
    if done is None:
        return _link_letter(result, back)
    flash(gettext(done, name=result.person_name), "done")
    return redirect(back, 303)


def _link_letter(letter, back: str):
    """A parent's link letter, shown once as a page to print: its code is never cached, in a URL, or stored."""
    html = render_template("beheer/link_letter.html", letter=letter, back=back,
                           link_url=f"{services().settings.issuer}/mijn/koppelen")
    return make_response(html, 200)
