"""Search conformance: the same cases, run on PostgreSQL (tsvector + pg_trgm) and SQLite (FTS5).

Each case is one query against one small referential built for the purpose; together they cover
every kind of match the search box promises, the filters, sorting, paging and counting.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.applications.models import Application
from portal.applications.queries import ApplicationFilters
from portal.applications.search import search_applications
from portal.core.pagination import PageRequest
from tests.unit.builders import add_stakeholder, make_application, make_entity, make_environment, make_person, reindex
from tests.unit.conftest import shared_session

# The tests share one referential, made once per module and engine: each runs in a savepoint, rolled back after it.
pytestmark = pytest.mark.usefixtures("module_connection")

DONNEES = "Les données de règlement sont conservées dix ans."


@pytest.fixture(scope="module")
def shared_referential(app, module_connection) -> None:
    """The referential of every case, made once per module and engine (see `module_connection`)."""
    with shared_session(app) as session:
        group = make_entity(session, "GRP", "Groupe Financier", kind="group")
        it = make_entity(session, "DSI", "Direction des Systèmes d'Information", kind="division", parent=group)
        payments = make_entity(session, "DSI-PAY", "Équipe Paiements", kind="team", parent=it)
        markets = make_entity(session, "DSI-MKT", "Marchés Financiers", kind="team", parent=it)
        hr = make_entity(session, "RH", "Ressources Humaines", kind="division", parent=group)

        apps = {}

        def application(trigram, name, entity, description=DONNEES, **overrides):
            apps[trigram] = make_application(
                session, trigram, name, entity=entity, description=description, **overrides
            )
            return apps[trigram]

        application("BCA", "Banque de Compensation Automatisée", payments, "Compense les flux interbancaires.")
        application("BCA2", "Banque de Compensation v2", payments, status="build")
        application("BCX", "Portail Bancaire Export", markets)
        application("PAY", "Passerelle de paiement", payments)
        application("PAI", "Paiements SEPA", payments, "Virements et prélèvements SEPA.")
        application("CLI", "CRM Clients", markets)
        application("CRM", "Outil de relation client", markets, "Suivi commercial.")
        application("REF", "Référentiel Clients", markets)
        application("TRE", "Trésorerie Groupe", markets, "Positions de liquidité.")
        application("TRS", "Calcul des positions", markets, "Calcul quotidien de la trésorerie des filiales.")
        application("MKD", "Données de Marché", markets, "Cours et courbes.")
        application("HAB", "Gestion des habilitations", hr, "Droits d'accès.", status="retired")
        application("PRV", "Banque Privée", hr, "Clientèle patrimoniale.")

        helene = make_person(session, "hmartin", "Hélène Martin")
        jean = make_person(session, "jdupont", "Jean Dupont")
        francois = make_person(session, "flefevre", "François Lefèvre")
        add_stakeholder(session, apps["TRE"], helene, "owner")
        add_stakeholder(session, apps["REF"], helene, "support")
        add_stakeholder(session, apps["BCA"], jean, "owner")
        add_stakeholder(session, apps["BCA2"], francois, "tech_lead")
        add_stakeholder(session, apps["BCA2"], jean, "owner")

        make_environment(
            session,
            apps["BCA"],
            "prod",
            url="https://bca.intranet.bank.example",
            servers=("par-lx-bca-p01", "par-lx-bca-p02"),
        )
        make_environment(
            session, apps["BCA"], "uat", url="https://bca-uat.intranet.bank.example", servers=("lyo-lx-bca-u01",)
        )
        make_environment(
            session, apps["PAY"], "prod", url="https://pay.intranet.bank.example", servers=("par-wn-pay-p01",)
        )
        make_environment(session, apps["BCA2"], "dev", url="https://bca2-dev.intranet.bank.example")
        reindex(session)


@pytest.fixture
def referential(session, shared_referential) -> dict[str, Application]:
    """The applications of the referential by trigram, in the test's session (some cases change them)."""
    return {application.trigram: application for application in session.scalars(select(Application))}


def search(session, q="", page=1, size=50, limit=1000, **filters):
    args = {"q": q, **filters}
    found = search_applications(session, ApplicationFilters(**args), PageRequest(page, size), exact_count_limit=limit)
    return found


def trigrams(session, q="", **filters):
    return [result["trigram"] for result in search(session, q, **filters).results]


# --- Exact trigram: always first, in any case ------------------------------------------------------------


@pytest.mark.parametrize("q", ["bca", "BCA", "Bca", "  bCa  "])
def test_exact_trigram_comes_first_in_any_case(session, referential, q):
    assert trigrams(session, q)[0] == "BCA"


def test_exact_trigram_beats_a_name_containing_it(session, referential):
    # CLI is named "CRM Clients"; CRM is the trigram asked for.
    assert trigrams(session, "crm")[0] == "CRM"


def test_exact_long_trigram_comes_first(session, referential):
    assert trigrams(session, "bca2")[0] == "BCA2"


def test_exact_trigram_beats_trigrams_that_extend_it(session, referential):
    assert trigrams(session, "bca")[:2] == ["BCA", "BCA2"]


# --- Trigram prefixes -----------------------------------------------------------------------------------


def test_trigram_prefix_of_two_letters_finds_every_trigram_starting_with_it(session, referential):
    assert set(trigrams(session, "bc")) == {"BCA", "BCA2", "BCX"}


def test_trigram_prefix_of_one_letter_only_matches_trigrams(session, referential):
    assert all(trigram.startswith("P") for trigram in trigrams(session, "p"))


def test_two_letter_term_does_not_expand_to_prefixes_of_words(session, referential):
    # "ge" would otherwise match "Gestion" and "Groupe".
    assert trigrams(session, "ge") == []


# --- Words of names and descriptions --------------------------------------------------------------------


def test_name_word_finds_applications(session, referential):
    assert set(trigrams(session, "compensation")) == {"BCA", "BCA2"}


def test_name_word_without_accents_finds_accented_name(session, referential):
    assert trigrams(session, "referentiel")[0] == "REF"


def test_accented_query_finds_the_same_as_unaccented(session, referential):
    assert trigrams(session, "Référentiel") == trigrams(session, "referentiel")


def test_uppercase_query_finds_the_same_as_lowercase(session, referential):
    assert trigrams(session, "GESTION") == trigrams(session, "gestion") == ["HAB"]


def test_last_word_is_a_prefix_while_typing(session, referential):
    assert set(trigrams(session, "compens")) == {"BCA", "BCA2"}


def test_last_word_is_whole_once_followed_by_a_space(session, referential):
    assert trigrams(session, "passerel") == ["PAY"]
    assert trigrams(session, "passerel ") == []


def test_all_words_must_match(session, referential):
    assert set(trigrams(session, "banque compensation")) == {"BCA", "BCA2"}


def test_stopwords_do_not_narrow_the_search(session, referential):
    assert trigrams(session, "gestion des habilitations") == ["HAB"]


def test_name_match_ranks_above_description_match(session, referential):
    assert trigrams(session, "tresorerie")[:2] == ["TRE", "TRS"]


def test_common_description_words_do_not_drown_a_name(session, referential):
    # Eleven descriptions say "données"; one application is named after it.
    results = trigrams(session, "données")
    assert results[0] == "MKD"
    assert len(results) > 5


def test_word_in_description_only_is_found(session, referential):
    assert trigrams(session, "interbancaires") == ["BCA"]


# --- People --------------------------------------------------------------------------------------------


def test_person_first_name_without_accent_finds_their_applications(session, referential):
    assert set(trigrams(session, "helene")) == {"TRE", "REF"}


def test_person_full_name_finds_their_applications(session, referential):
    assert set(trigrams(session, "Hélène Martin")) == {"TRE", "REF"}


def test_person_login_finds_their_applications(session, referential):
    assert set(trigrams(session, "jdupont")) == {"BCA", "BCA2"}


def test_person_last_name_with_accent_finds_their_applications(session, referential):
    assert trigrams(session, "lefevre") == ["BCA2"]


# --- Hostnames and URLs ---------------------------------------------------------------------------------


def test_full_hostname_finds_its_application_first(session, referential):
    assert trigrams(session, "par-lx-bca-p01")[0] == "BCA"


def test_hostname_in_uppercase_finds_its_application(session, referential):
    assert trigrams(session, "PAR-LX-BCA-P01")[0] == "BCA"


def test_part_of_a_hostname_finds_its_application(session, referential):
    assert trigrams(session, "lx-bca-u0") == ["BCA"]


def test_url_host_finds_its_application(session, referential):
    assert trigrams(session, "pay.intranet.bank.example")[0] == "PAY"


def test_url_with_scheme_finds_its_application(session, referential):
    assert trigrams(session, "https://bca-uat.intranet")[0] == "BCA"


def test_hostname_shared_prefix_finds_every_application_on_that_site(session, referential):
    assert set(trigrams(session, "par-lx-")) == {"BCA"}
    assert set(trigrams(session, "par-")) == {"BCA", "PAY"}


# --- Entities -------------------------------------------------------------------------------------------


def test_team_name_finds_its_applications(session, referential):
    assert set(trigrams(session, "marchés financiers")) == {"BCX", "CLI", "CRM", "REF", "TRE", "TRS", "MKD"}


def test_division_name_finds_the_applications_of_its_whole_subtree(session, referential):
    found = set(trigrams(session, "systemes d'information"))
    assert found == set(referential) - {"HAB", "PRV"}


def test_entity_code_finds_its_applications(session, referential):
    assert set(trigrams(session, "DSI-PAY")) >= {"BCA", "BCA2", "PAY", "PAI"}


# --- One typo -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typo",
    ["compensatoin", "compensaton", "commpensation", "compansation"],
    ids=["swap", "deletion", "insertion", "substitution"],
)
def test_one_typo_in_a_long_word_still_finds(session, referential, typo):
    assert set(trigrams(session, typo)) == {"BCA", "BCA2"}


def test_one_typo_in_a_person_name_still_finds(session, referential):
    assert set(trigrams(session, "hlene")) == {"TRE", "REF"}


def test_two_typos_do_not_match(session, referential):
    assert trigrams(session, "compansatoin") == []


def test_short_words_are_not_matched_with_a_typo(session, referential):
    # "crn" is one letter from "crm", but three-letter words must match exactly.
    assert "CRM" not in trigrams(session, "crn")


# --- Filters combined with the text ---------------------------------------------------------------------


def test_status_filter_combines_with_text(session, referential):
    assert trigrams(session, "compensation", status=("build",)) == ["BCA2"]


def test_entity_filter_includes_the_subtree(session, referential):
    assert set(trigrams(session, "banque", entity="DSI")) == {"BCA", "BCA2"}


def test_environment_filter_keeps_applications_with_that_kind(session, referential):
    assert trigrams(session, "compensation", environment=("uat",)) == ["BCA"]


def test_person_filter_keeps_their_applications(session, referential):
    assert set(trigrams(session, "", person="jdupont")) == {"BCA", "BCA2"}


def test_person_and_role_filters_combine(session, referential):
    assert trigrams(session, "", person="hmartin", role=("support",)) == ["REF"]


def test_role_filter_alone_keeps_applications_with_that_role(session, referential):
    assert trigrams(session, "", role=("tech_lead",)) == ["BCA2"]


def test_trigram_filter_is_a_prefix(session, referential):
    assert trigrams(session, "", trigram="BC") == ["BCA", "BCA2", "BCX"]


def test_filters_without_text_list_by_trigram(session, referential):
    assert trigrams(session, "", entity="RH") == ["HAB", "PRV"]


def test_unknown_entity_filter_finds_nothing(session, referential):
    assert trigrams(session, "", entity="NOPE") == []


# --- Sorting, paging, counting ----------------------------------------------------------------------------


def test_sort_by_name(session, referential):
    assert trigrams(session, "banque", sort="name") == ["BCA", "BCA2", "PRV"]


def test_sort_by_trigram_descending(session, referential):
    assert trigrams(session, "banque", sort="-trigram") == ["PRV", "BCA2", "BCA"]


def test_sort_by_last_update(session, referential):
    referential["PRV"].name = "Banque Privée et Patrimoine"
    session.flush()
    assert trigrams(session, "banque", sort="-updated")[0] == "PRV"


def test_pages_do_not_overlap_and_count_stays(session, referential):
    first = search(session, "", size=5)
    second = search(session, "", page=2, size=5)
    assert first.count == second.count == len(referential)
    assert not {r["trigram"] for r in first.results} & {r["trigram"] for r in second.results}


def test_count_is_exact_below_the_limit(session, referential):
    found = search(session, "données", size=2)
    assert found.count_is_estimate is False
    assert found.count == len(trigrams(session, "données"))


def test_count_above_the_limit_is_flagged_as_an_estimate(session, referential):
    found = search(session, "", size=2, limit=5)
    assert found.count_is_estimate is True
    assert found.count > 5


# --- Why each hit matched -------------------------------------------------------------------------------


def test_hit_says_which_name_words_matched(session, referential):
    result = next(result for result in search(session, "compens").results if result["trigram"] == "BCA")
    assert {"field": "name", "highlight": "Banque de <mark>Compensation</mark> Automatisée"} in result["matches"]


def test_hit_says_it_matched_a_person(session, referential):
    result = search(session, "helene").results[0]
    assert [match["field"] for match in result["matches"]] == ["people"]
    assert "<mark>Hélène</mark>" in result["matches"][0]["highlight"]


def test_hit_says_it_matched_a_hostname(session, referential):
    result = search(session, "lx-bca-u0").results[0]
    assert any(match["field"] == "hosts" and "<mark>" in match["highlight"] for match in result["matches"])


def test_highlight_escapes_html(session, referential):
    referential["HAB"].name = "Gestion <b>des</b> habilitations"
    session.flush()
    reindex(session)
    highlight = search(session, "habilitations").results[0]["matches"][0]["highlight"]
    assert "&lt;b&gt;" in highlight and "<b>" not in highlight


# --- Hostile or odd queries never fail ------------------------------------------------------------------


@pytest.mark.parametrize(
    "q",
    ['"', 'bca" OR "x', "NEAR(a b)", "*", "a*", "'; DROP TABLE application; --", "%", "_", "\\", ":*", "!&|()", "…"],
)
def test_query_syntax_of_either_engine_is_just_text(session, referential, q):
    search(session, q)  # must not raise


def test_query_of_punctuation_only_finds_nothing(session, referential):
    assert trigrams(session, "--- !!! ") == []


def test_common_word_above_the_limit_is_estimated_and_still_ranks_names_first(session, referential):
    found = search(session, "données", size=3, limit=4)
    assert found.count_is_estimate is True
    assert found.count >= 4
    assert found.results[0]["trigram"] == "MKD"


def test_exact_entity_name_puts_its_applications_before_name_matches(session, referential):
    hr = referential["HAB"].entity
    make_application(session, "EPG", "Équipe Paiements Groupe", entity=hr)
    reindex(session)
    results = trigrams(session, "Équipe Paiements")
    assert set(results[:4]) == {"BCA", "BCA2", "PAY", "PAI"}
    assert results[4] == "EPG"


def test_exact_entity_code_finds_its_whole_subtree(session, referential):
    assert set(trigrams(session, "dsi")) == set(referential) - {"HAB", "PRV"}


@pytest.mark.parametrize("q", ["lukasz", "Łukasz", "ostergaard", "oeuvre"])
def test_letters_without_decomposition_fold_like_postgresql_unaccent(session, referential, q):
    person = make_person(session, "lostergaard", "Łukasz Østergaard")
    add_stakeholder(session, referential["HAB"], person, "support")
    referential["HAB"].description = "Œuvre sociale"
    reindex(session)
    assert trigrams(session, q) == ["HAB"]


def test_full_name_ranks_the_person_above_namesakes_scattered_across_people(session, referential):
    marie = make_person(session, "mfrancois", "Marie François")
    add_stakeholder(session, referential["PRV"], marie, "owner")
    # HAB has a Marie and a François, but not Marie François.
    add_stakeholder(session, referential["HAB"], make_person(session, "mdupont", "Marie Dupont"), "owner")
    add_stakeholder(session, referential["HAB"], make_person(session, "fmartin", "François Martin"), "support")
    reindex(session)
    assert trigrams(session, "Marie François")[0] == "PRV"
    assert trigrams(session, "Marie Franç")[0] == "PRV"


def test_name_phrase_with_stopwords_ranks_the_exact_phrase_first(session, referential):
    make_application(session, "CCP", "Calcul et Contrôle des Positions", entity=referential["TRS"].entity)
    reindex(session)
    assert trigrams(session, "calcul des positions")[0] == "TRS"


def test_exact_hostname_in_any_case_answers_its_application_alone(session, referential):
    assert trigrams(session, "PAR-lx-BCA-p02") == ["BCA"]
