"""A deterministic generator of a realistic referential for a French bank: demo (XS) and benchmark (S, L) data.

The same size and seed always give the same rows, byte for byte: every choice is drawn from one
`random.Random(seed)` in a fixed order, and every date is an offset from `REFERENCE_DATE`, never the
clock. Rows are plain dicts inserted in bulk with primary keys assigned here, so that children point at
their parents without a round trip and no ORM object is built per row.

Names and descriptions are combined from vocabularies ordered from common to rare and drawn with a
Zipf-like skew, so that "Gestion" or "Paiements" appear in many names while "Cigogne" appears in few,
as in a real portfolio: searches for a word then have realistic result sizes.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from portal.applications.models import Application
from portal.conflicts.models import Conflict
from portal.core.models import Base
from portal.entities.models import Entity
from portal.environments.models import Component, Environment
from portal.interfaces.models import Interface
from portal.people.models import Person, Stakeholder
from portal.search.index import rebuild
from portal.search.models import SearchDocument, SearchTermVariant
from portal.search.text import fold
from portal.sources.models import SourceRecord

Row = dict[str, Any]
T = TypeVar("T")

# Applications per size; everything else follows from this count.
SIZES: dict[str, int] = {"XS": 2_000, "S": 20_000, "L": 200_000}
BATCH_SIZE = 5_000
# Every date is an offset from these, so a run next year gives the same data.
REFERENCE_DATE = date(2026, 1, 1)
REFERENCE_TIME = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)

MIN_PEOPLE = 500
APPLICATIONS_PER_PERSON = 4
# Above this share of the 26**3 three-letter codes in use, a taken code gets a suffix (BCA2, PAYX1)
# instead of a search for a free three-letter one.
CROWDED_THREE_LETTER_SHARE = 0.6
THREE_LETTER_CODES = 26**3

# Loaded parents first; deleted children first.
LOAD_ORDER: tuple[type[Base], ...] = (Entity, Person, Application, Stakeholder, Environment, Component, Interface)
# What sources said about the replaced referential goes with it; the audit log stays (it is append-only).
DELETE_ORDER: tuple[type[Base], ...] = (
    Conflict,
    SourceRecord,
    SearchTermVariant,
    SearchDocument,
    *reversed(LOAD_ORDER),
)


class DemoDataError(RuntimeError):
    """The database already holds applications and `replace` was not asked for."""


# --- vocabularies (each ordered from the most to the least common) ---------------------------------------
# fmt: off
# (Data tables: one item per line would make them a thousand lines long.)

GROUP = ("GRP", "Groupe Banque Exemple")

# (code, name, departments): the divisions of the group and their departments.
DIVISIONS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("DSI", "Direction des Systèmes d'Information", (
        ("ETU", "Direction des Études"), ("PRD", "Production Informatique"), ("ARC", "Architecture et Urbanisme"),
        ("SEC", "Sécurité des Systèmes d'Information"), ("INF", "Infrastructures et Cloud"),
        ("DAT", "Données et Intelligence Artificielle"),
    )),
    ("BDD", "Banque de Détail", (
        ("PAR", "Marché des Particuliers"), ("PRO", "Professionnels et Entreprises"), ("AGE", "Réseau d'Agences"),
        ("MOY", "Moyens de Paiement"), ("CRE", "Crédits aux Particuliers"),
    )),
    ("BFI", "Banque de Financement et d'Investissement", (
        ("MKT", "Global Markets"), ("FIN", "Financements Structurés"), ("CMT", "Corporate Banking"),
        ("TRS", "Trade Finance et Cash Management"), ("ECO", "Recherche Économique"),
    )),
    ("RIS", "Direction des Risques", (
        ("RCR", "Risques de Crédit"), ("RMA", "Risques de Marché"), ("ROP", "Risques Opérationnels"),
        ("MOD", "Modélisation et Validation"), ("LIQ", "Risque de Liquidité"),
    )),
    ("FIN", "Direction Financière", (
        ("CPT", "Comptabilité Générale"), ("CTG", "Contrôle de Gestion"), ("REG", "Reporting Réglementaire"),
        ("TRE", "Trésorerie et ALM"), ("FIS", "Fiscalité"),
    )),
    ("CPL", "Direction de la Conformité", (
        ("LAB", "Lutte Anti-Blanchiment"), ("SAN", "Sanctions et Embargos"), ("DEO", "Déontologie"),
        ("KYC", "Connaissance Client"),
    )),
    ("OPE", "Direction des Opérations", (
        ("BOT", "Back-Office Titres"), ("BOP", "Back-Office Paiements"), ("REC", "Recouvrement et Contentieux"),
        ("SCL", "Service Clients"), ("EDI", "Éditique et Archivage"),
    )),
    ("GPA", "Gestion de Patrimoine et Assurances", (
        ("BPR", "Banque Privée"), ("AMG", "Asset Management"), ("ASS", "Assurance-vie et Prévoyance"),
        ("EPS", "Épargne Salariale"), ("IMM", "Immobilier"),
    )),
    ("RHU", "Ressources Humaines", (
        ("PAI", "Paie et Administration du Personnel"), ("TAL", "Talents et Formation"),
        ("REL", "Relations Sociales"), ("SIR", "Systèmes d'Information RH"),
    )),
    ("DIG", "Direction du Digital et de l'Innovation", (
        ("MOB", "Applications Mobiles"), ("WEB", "Banque en Ligne"), ("INO", "Lab Innovation"),
        ("EXP", "Expérience Client"), ("OPB", "Open Banking et API"),
    )),
    ("IGN", "Inspection Générale", (("AUD", "Audit Interne"), ("CTL", "Contrôle Permanent"))),
)

# (code, name): the subjects teams are formed around; each department gets four to six of them.
TEAM_TOPICS: tuple[tuple[str, str], ...] = (
    ("PAY", "Paiements"), ("SEP", "SEPA"), ("CAR", "Cartes"), ("CHQ", "Chèques"), ("VIR", "Virements"),
    ("CRE", "Crédits"), ("IMM", "Crédit Immobilier"), ("CON", "Crédit à la Consommation"), ("EPA", "Épargne"),
    ("CLI", "Clients"), ("TIE", "Tiers"), ("CPT", "Comptes"), ("TIT", "Titres"), ("DER", "Dérivés"),
    ("CHG", "Change"), ("TAU", "Taux"), ("ACT", "Actions"), ("OBL", "Obligations"), ("COL", "Collatéral"),
    ("LIQ", "Liquidité"), ("ALM", "ALM"), ("TRE", "Trésorerie"), ("RIS", "Risques"), ("BAL", "Bâle III"),
    ("IFR", "IFRS 9"), ("FRA", "Fraude"), ("LCB", "LCB-FT"), ("KYC", "KYC"), ("SAN", "Sanctions"),
    ("ARC", "Archivage"), ("EDI", "Éditique"), ("GED", "Gestion Électronique de Documents"), ("CRM", "CRM"),
    ("MOB", "Mobile"), ("WEB", "Web"), ("API", "API"), ("DAT", "Data"), ("BIN", "Décisionnel"),
    ("IAR", "Intelligence Artificielle"), ("CLD", "Cloud"), ("RES", "Réseaux"), ("MFR", "Mainframe"),
    ("POS", "Postes de Travail"), ("SOC", "SOC"), ("IAM", "Habilitations"), ("PKI", "Certificats et PKI"),
    ("DEV", "DevOps"), ("QUA", "Qualité et Tests"), ("SUP", "Support"), ("EXP", "Exploitation"),
    ("REP", "Reporting"), ("CPL", "Comptabilité"), ("FIS", "Fiscalité"), ("ACH", "Achats"), ("FAC", "Facturation"),
    ("SIN", "Sinistres"), ("PRE", "Prévoyance"), ("GAR", "Garanties"), ("REC", "Recouvrement"),
    ("NOT", "Notation"), ("MAR", "Données de Marché"), ("PRI", "Pricing"), ("ORD", "Ordres"),
    ("REG", "Règlement-Livraison"), ("CUS", "Conservation"), ("PAT", "Patrimoine"), ("PAI", "Paie"),
    ("FOR", "Formation"), ("REM", "Rémunération"), ("ENT", "Entreprises"), ("PRO", "Professionnels"),
)
TEAM_PREFIXES = ("Équipe", "Pôle", "Cellule", "Squad", "Service")

# (action, article usually omitted): "Référentiel Clients" but "Gestion des Paiements".
FR_ACTIONS: tuple[tuple[str, bool], ...] = (
    ("Gestion", False), ("Suivi", False), ("Référentiel", True), ("Pilotage", False), ("Plateforme", True),
    ("Portail", True), ("Calcul", False), ("Contrôle", False), ("Reporting", True), ("Traitement", False),
    ("Consolidation", False), ("Rapprochement", False), ("Moteur", True), ("Saisie", False),
    ("Valorisation", False), ("Archivage", False), ("Supervision", False), ("Simulation", False),
    ("Tarification", False), ("Octroi", False), ("Souscription", False), ("Recouvrement", False),
    ("Déclaration", False), ("Édition", False), ("Collecte", False), ("Analyse", False), ("Cartographie", False),
    ("Restitution", False), ("Workflow", True), ("Base", True), ("Entrepôt", True), ("Tableau de bord", True),
    ("Cockpit", True), ("Passerelle", True), ("Échanges", True), ("Notation", False), ("Instruction", False),
    ("Clôture", False), ("Comptabilisation", False), ("Provisionnement", False), ("Alimentation", False),
    ("Historisation", False), ("Facturation", False), ("Réconciliation", False), ("Surveillance", False),
    ("Détection", False), ("Numérisation", False), ("Dématérialisation", False), ("Signature", False),
    ("Administration", False), ("Qualification", False), ("Certification", False), ("Ordonnancement", False),
)

# (object, article): the things applications handle.
FR_OBJECTS: tuple[tuple[str, str], ...] = (
    ("Paiements", "des "), ("Clients", "des "), ("Crédits", "des "), ("Comptes", "des "), ("Risques", "des "),
    ("Opérations", "des "), ("Contrats", "des "), ("Virements", "des "), ("Trésorerie", "de la "),
    ("Titres", "des "), ("Garanties", "des "), ("Prêts", "des "), ("Cartes", "des "), ("Prélèvements", "des "),
    ("Tiers", "des "), ("Habilitations", "des "), ("Liquidités", "des "), ("Dérivés", "des "),
    ("Écritures comptables", "des "), ("Épargne", "de l'"), ("Crédit immobilier", "du "), ("Change", "du "),
    ("Collatéral", "du "), ("Chèques", "des "), ("Limites", "des "), ("Expositions", "des "),
    ("Provisions", "des "), ("Factures", "des "), ("Fournisseurs", "des "), ("Achats", "des "),
    ("Réclamations", "des "), ("Successions", "des "), ("Sinistres", "des "), ("Assurances", "des "),
    ("Placements", "des "), ("Obligations", "des "), ("Actions", "des "), ("Fonds", "des "), ("OPCVM", "des "),
    ("Marges", "des "), ("Appels de marge", "des "), ("Taux", "des "), ("Devises", "des "), ("Cours", "des "),
    ("Positions", "des "), ("Ordres de bourse", "des "), ("Transactions", "des "), ("Incidents", "des "),
    ("Alertes", "des "), ("Documents", "des "), ("Courriers", "des "), ("Dossiers de crédit", "des "),
    ("Prospects", "des "), ("Rendez-vous", "des "), ("Agences", "des "), ("Distributeurs", "des "),
    ("Coffres-forts", "des "), ("Effets de commerce", "des "), ("Remises", "des "), ("Impayés", "des "),
    ("Contentieux", "du "), ("Surendettement", "du "), ("Crédit à la consommation", "du "),
    ("Crédit-bail", "du "), ("Affacturage", "de l'"), ("Leasing", "du "), ("Patrimoine", "du "),
    ("Portefeuilles", "des "), ("Mandats", "des "), ("Frais bancaires", "des "), ("Commissions", "des "),
    ("Tarifs", "des "), ("Budgets", "des "), ("Immobilisations", "des "), ("Salariés", "des "),
    ("Congés", "des "), ("Formations", "des "), ("Notes de frais", "des "), ("Rémunérations", "des "),
    ("Effectifs", "des "), ("Postes de travail", "des "), ("Serveurs", "des "), ("Licences", "des "),
    ("Certificats", "des "), ("Identités", "des "), ("Journaux", "des "), ("Données de marché", "des "),
    ("Données clients", "des "), ("Indicateurs", "des "), ("Stress tests", "des "), ("Fonds propres", "des "),
    ("Ratios prudentiels", "des "), ("Déclarations fiscales", "des "), ("Chéquiers", "des "),
    ("Coupons", "des "), ("Dividendes", "des "), ("Opérations sur titres", "des "),
    ("Règlements-livraisons", "des "), ("Swaps", "des "), ("Options", "des "), ("Matières premières", "des "),
    ("Émissions", "des "), ("Syndications", "des "), ("Lettres de crédit", "des "), ("Cautions", "des "),
    ("Engagements", "des "), ("Notations", "des "), ("Covenants", "des "), ("Bilans", "des "),
    ("Procurations", "des "), ("Mandats de prélèvement", "des "), ("Bénéficiaires", "des "),
    ("Échéanciers", "des "), ("Taux d'usure", "des "), ("Forfaits", "des "), ("Parrainages", "des "),
)

FR_QUALIFIERS = (
    "SEPA", "Groupe", "Particuliers", "Entreprises", "Professionnels", "France", "International", "Europe",
    "Temps réel", "SWIFT", "Banque Privée", "Corporate", "Retail", "Instantanés", "Bâle III", "IFRS 9",
    "IFRS 17", "FATCA", "MiFID II", "EMIR", "DSP2", "LCB-FT", "Target2", "Mobile", "Web", "Agences", "Filiales",
    "Asie", "Amériques", "Batch", "Hors bilan", "Intraday", "Nostro", "Back-Office", "Front-Office",
    "Middle-Office", "Réglementaire", "Analytique", "Consolidé", "Premium", "Jeunes", "Seniors", "Associations",
    "Collectivités", "Outre-mer", "Luxembourg", "Suisse", "Monaco", "Belgique", "Espagne", "Italie",
    "Allemagne", "Royaume-Uni", "Singapour", "Hong Kong", "New York", "Grands Comptes", "PME", "Agriculteurs",
)

EN_DOMAINS = (
    "Risk", "Payment", "Pricing", "Trade", "Customer", "Credit", "Collateral", "Liquidity", "Market Data",
    "Settlement", "Fraud", "Treasury", "Loan", "Mortgage", "Card", "Wealth", "Portfolio", "Fund", "Compliance",
    "Regulatory", "Ledger", "Billing", "Onboarding", "Identity", "Document", "Data", "Position", "Limit",
    "Exposure", "Cash", "FX", "Rates", "Equity", "Commodities", "Margin", "Order", "Execution", "Client",
    "Account", "Reconciliation", "Sanctions", "KYC", "AML", "Stress Test", "Capital", "Performance",
    "Reference Data", "Product", "Contract", "Claims", "Policy", "Tax", "Expense", "Procurement", "HR",
    "Payroll", "Talent", "Workforce", "Incident", "Access", "Consent", "Notification", "Messaging", "Analytics",
    "Forecast", "Scoring", "Valuation", "Hedge", "Securities Lending", "Repo", "Custody", "Corporate Actions",
    "Instant Payments", "Open Banking", "Netting",
)

EN_HEADS = (
    "Engine", "Hub", "Gateway", "Platform", "Manager", "Dashboard", "Portal", "Service", "Monitor", "Studio",
    "Factory", "Lake", "Warehouse", "Store", "Tracker", "Console", "API", "Connector", "Scheduler", "Calculator",
    "Viewer", "Router", "Broker", "Repository", "Workbench", "Cockpit", "Booking", "Capture", "Analyzer",
    "Simulator", "Orchestrator", "Registry", "Vault", "Bridge", "Center", "Suite", "Desk", "Explorer", "Checker",
    "Matcher", "Publisher", "Feeder", "Loader", "Archive",
)
EN_QUALIFIERS = (
    "Europe", "Global", "APAC", "Americas", "Retail", "Corporate", "Next", "Lite", "Pro", "Real-Time",
    "Intraday", "EMEA", "UK", "France", "Plus",
)

CODENAMES = (
    "Athéna", "Hermès", "Mistral", "Sirocco", "Zéphyr", "Pégase", "Hélios", "Iris", "Cassiopée", "Andromède",
    "Orion", "Vega", "Altaïr", "Phénix", "Mercure", "Jupiter", "Saturne", "Neptune", "Apollon", "Artémis",
    "Héra", "Déméter", "Éole", "Gaïa", "Junon", "Minerve", "Vulcain", "Calypso", "Ulysse", "Ariane", "Thésée",
    "Icare", "Prométhée", "Atlas", "Titan", "Oméga", "Sigma", "Delta", "Kappa", "Lambda", "Nova", "Polaris",
    "Sirius", "Antarès", "Bételgeuse", "Rigel", "Aldébaran", "Castor", "Pollux", "Lyra", "Draco", "Hydre",
    "Chimère", "Licorne", "Griffon", "Sphinx", "Mésange", "Hirondelle", "Albatros", "Goéland", "Colibri",
    "Faucon", "Épervier", "Condor", "Cigogne", "Héron", "Écureuil", "Lynx", "Loutre", "Marmotte", "Chamois",
    "Edelweiss", "Séquoia", "Érable", "Cèdre", "Tilleul", "Bouleau", "Mimosa", "Lavande", "Capucine",
    "Pâquerette", "Opale", "Émeraude", "Saphir", "Rubis", "Topaze", "Améthyste", "Onyx", "Quartz", "Jade",
    "Corail", "Nacre", "Ambre",
)
# Words left out when a trigram is derived from a name.
NAME_STOPWORDS = frozenset((
    "a", "au", "aux", "d", "de", "des", "du", "en", "et", "for", "l", "la", "le", "les", "of", "the", "and", "v",
))
VERSION_SUFFIXES = ("v2", "2.0", "NG", "(legacy)", "v3")

# Words for descriptions: one or two sentences around the application's subject.
FR_DESCRIPTION_ACTIONS = (
    "gestion", "suivi", "pilotage", "calcul", "contrôle", "consolidation", "rapprochement", "traitement",
    "valorisation", "archivage", "saisie", "restitution", "supervision", "simulation", "collecte", "analyse",
    "historisation", "tarification", "comptabilisation", "déclaration",
)
# "Gestion des paiements" but "permet de gérer les paiements".
DEFINITE_ARTICLES = {"des ": "les ", "de la ": "la ", "du ": "le ", "de l'": "l'"}
FR_VERBS = (
    "de gérer", "de suivre", "de piloter", "de calculer", "de contrôler", "de consolider", "de rapprocher",
    "de valoriser", "d'archiver", "de saisir", "de restituer", "de superviser", "de simuler", "d'analyser",
    "de déclarer", "d'éditer", "de valider", "de tarifer",
)
FR_AUDIENCES = (
    "les conseillers en agence", "les gestionnaires back-office", "la direction financière", "les équipes risques",
    "les clients particuliers", "les clients entreprises", "les traders", "les analystes crédit",
    "le contrôle de gestion", "les chargés d'affaires", "les équipes conformité", "les auditeurs",
    "la trésorerie groupe", "les filiales internationales", "les équipes de production",
    "les gestionnaires de patrimoine", "le service clients", "les équipes RH", "les middle-officers",
)
FR_SCOPES = (
    "pour la banque de détail", "pour l'ensemble du groupe", "en France et à l'international",
    "pour les filiales européennes", "au quotidien", "en temps réel", "pour la banque privée",
    "sur le périmètre corporate", "pour les réseaux d'agences", "pour les marchés de capitaux",
)
FR_FREQUENCIES = (
    "en temps réel", "chaque nuit", "quotidiennement", "chaque heure", "en fin de mois", "chaque semaine",
    "à la demande",
)
FR_PLATFORMS = ("OpenShift", "le cloud privé", "AWS", "Azure", "le mainframe", "Kubernetes", "des VM Linux")
EN_PLATFORMS = ("OpenShift", "the private cloud", "AWS", "Azure", "the mainframe", "Kubernetes", "Linux VMs")
PRODUCTS = (
    "SAP", "Murex", "Calypso", "Summit", "Kondor", "Sophis", "Salesforce", "Swift Alliance", "Temenos T24",
    "Oracle Financials", "SAS", "Informatica", "ServiceNow",
)
FR_SYSTEMS = (
    *PRODUCTS, "le SI comptable", "le datawarehouse groupe", "le CRM", "le référentiel tiers", "l'entrepôt risques",
    "la plateforme de paiements", "le core banking",
)
EN_SYSTEMS = (
    *PRODUCTS, "the general ledger", "the group data warehouse", "the CRM", "the counterparty referential",
    "the risk data warehouse", "the payment platform", "the core banking system",
)
REGULATIONS = ("Bâle III", "COREP", "FINREP", "IFRS 9", "FATCA", "CRS", "LCR", "NSFR", "EMIR", "MiFID II", "DORA")
USER_COUNTS = (12, 25, 40, 80, 150, 300, 500, 1200, 3000, 8000)
FR_SENTENCES = (
    "Application {of_action} {article}{object} pour {audience}.",
    "Outil {of_action} {article}{object} utilisé par {audience}.",
    "Plateforme {of_action} {article}{object} et {article2}{object2}.",
    "Permet {verb} {definite}{object} {scope}.",
    "Solution {of_action} {article}{object} {scope}, utilisée par {audience}.",
    "Gère le cycle de vie {article}{object} {scope}.",
)
FR_FOLLOW_UPS = (
    "Alimente {system} {frequency}.",
    "Reçoit les données {of_system} {frequency}.",
    "Interfacée avec {system} et {system2}.",
    "Migration vers {platform} prévue en {year}.",
    "Remplace l'ancien outil {codename}.",
    "Expose une API REST aux applications du groupe.",
    "Hébergée sur {platform}.",
    "Données soumises au secret bancaire.",
    "Utilisée par environ {users} collaborateurs.",
    "Produit les états réglementaires {regulation}.",
)
EN_AUDIENCES = (
    "relationship managers", "the back office", "risk analysts", "traders", "the finance department",
    "compliance officers", "branch advisors", "corporate clients", "retail customers", "the treasury desk",
    "auditors", "operations teams", "wealth managers", "data scientists",
)
EN_SCOPES = (
    "the retail bank", "corporate and investment banking", "all group entities", "European subsidiaries",
    "the trading floor", "private banking clients", "Asia-Pacific branches",
)
EN_METRICS = ("exposures", "sensitivities", "limits", "margins", "prices", "valuations", "P&L", "forecasts", "scores")
EN_THINGS = ("events", "data", "flows", "positions", "transactions", "records", "documents", "requests")
EN_FREQUENCIES = ("in real time", "nightly", "every hour", "at month end", "daily", "weekly", "on demand")
EN_SENTENCES = (
    "{domain} {head} used by {audience}.",
    "Computes {domain_lower} {metric} for {scope}.",
    "Central {domain_lower} {head_lower} for {scope}.",
    "Captures and enriches {domain_lower} {things} from {system}.",
    "Self-service {head_lower} giving {audience} a view of {domain_lower} {things}.",
)
EN_FOLLOW_UPS = (
    "Feeds {system} {frequency}.",
    "Replaces the legacy {codename} tool.",
    "Runs on {platform}.",
    "Migration to {platform} planned for {year}.",
    "Exposes a REST API to downstream applications.",
    "Used by about {users} people.",
)

FIRST_NAMES = (
    "Marie", "Jean", "Pierre", "Nathalie", "Philippe", "Isabelle", "Nicolas", "Sophie", "François", "Céline",
    "Stéphane", "Sandrine", "Thomas", "Julie", "Frédéric", "Camille", "Laurent", "Hélène", "Christophe",
    "Valérie", "Sébastien", "Aurélie", "Olivier", "Émilie", "Jérôme", "Caroline", "David", "Cécile", "Julien",
    "Anne", "Éric", "Élodie", "Michel", "Chloé", "Alexandre", "Léa", "Benoît", "Amélie", "Guillaume", "Inès",
    "Antoine", "Agnès", "Mathieu", "Laure", "Vincent", "Zoë", "Loïc", "Anaïs", "Raphaël", "Gaëlle", "Clément",
    "Manon", "Arnaud", "Noémie", "Maxime", "Océane", "Hugo", "Margaux", "Théo", "Solène", "Gaël", "Maëlle",
    "Joël", "Mélanie", "Cédric", "Bérénice", "Grégoire", "Séverine", "Rémi", "Adèle", "Noël", "Héloïse",
    "Jean-François", "Marie-Hélène", "Anne-Sophie", "Jean-Pierre", "Marie-Christine", "Pierre-Yves",
    "Jean-Michel", "Anne-Laure", "Mathéo", "Maël", "Timothée", "Ophélie", "Félix", "Léonie", "Aimé", "Irène",
    "Jérémie", "Édouard", "Eléonore", "Dorothée", "Thérèse", "Gérard", "André", "René", "Josée", "Renée",
    "John", "Sarah", "Michael", "Emily", "James", "Emma", "Daniel", "Olivia", "Robert", "Charlotte", "William",
    "Sophia", "Andrew", "Grace", "Siobhán", "Seán", "Niamh", "Ciarán", "Björn", "Jürgen", "Søren", "Zoé",
    "José", "María", "Íñigo", "Łukasz", "Ana", "Priya", "Wei", "Mei", "Hiroshi", "Yuki", "Fatima", "Mehdi",
    "Yasmine", "Karim", "Nadia", "Rachid", "Leïla", "Amine", "Aïcha", "Sofiane",
)
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon",
    "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier", "Morel",
    "Girard", "André", "Lefebvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand",
    "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin",
    "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Masson",
    "Sanchez", "Gérard", "Nguyen", "Boyer", "Denis", "Lemaire", "Duval", "Joly", "Gautier", "Roger", "Roche",
    "Roy", "Noël", "Meyer", "Lucas", "Meunier", "Jean", "Pérez", "Marchand", "Dufour", "Blanchard", "Barbier",
    "Brun", "Dumas", "Brunet", "Schmitt", "Leroux", "Colin", "Fernandez", "Pierre", "Renard", "Arnaud",
    "Rolland", "Caron", "Aubert", "Giraud", "Leclerc", "Vidal", "Bourgeois", "Renaud", "Lemoine", "Picard",
    "Gaillard", "Philippe", "Leclercq", "Lacroix", "Fabre", "Dupuis", "Olivier", "Rodriguez", "Da Silva",
    "Hubert", "Louis", "Charles", "Guillot", "Rivière", "Le Gall", "Guillaume", "Adam", "Rey", "Moulin",
    "Gonzalez", "Berger", "Lecomte", "Ménard", "Fleury", "Deschamps", "Carpentier", "Julien", "Benoît",
    "Paris", "Maillard", "Marchal", "Aubry", "Vasseur", "Le Roux", "Renault", "Jacquet", "Collet", "Prévost",
    "Poirier", "Charpentier", "Royer", "Huet", "Baron", "Dupuy", "Pons", "Paul", "Laine", "Carré", "Breton",
    "Rémy", "Schneider", "Perrot", "Guyot", "Barré", "Marty", "Cousin", "Bélanger", "Côté", "Gagné",
    "Lévesque", "Hébert", "Thériault", "Pelletier", "Bouchard", "Leblanc", "Éthier", "Desrosiers", "Lefèbvre",
    "D'Almeida", "De la Fontaine", "Le Goff", "Kerbrat", "Le Bihan", "Smith", "Johnson", "Williams", "Brown",
    "Jones", "O'Brien", "O'Connor", "McDonald", "Murphy", "Kelly", "Taylor", "Wilson", "Evans", "Walker",
    "Wright", "Thompson", "Müller", "Schäfer", "Weiß", "Groß", "Köhler", "Jäger", "Núñez", "García", "Muñoz",
    "Peña", "Ibáñez", "Kowalski", "Nowak", "Wiśniewski", "Andersson", "Østergaard", "Dvořák", "Novák",
    "Benali", "Haddad", "Mansouri", "Bouaziz", "Chen", "Wang", "Tanaka", "Sato", "Kumar", "Patel",
)
EMAIL_DOMAIN = "bank.example"

# The roles beside the one owner, with how often an application names someone for each.
OTHER_ROLES: tuple[tuple[str, float], ...] = (
    ("it_owner", 0.9), ("tech_lead", 0.85), ("support", 0.6), ("business_owner", 0.45), ("security", 0.2),
)
EXTRA_ROLE_COUNTS = (1, 2, 3, 4)  # 2 to 5 stakeholders with the owner
EXTRA_ROLE_WEIGHTS = (20, 40, 25, 15)

STATUSES = ("production", "retired", "build", "decommissioning", "plan")
STATUS_WEIGHTS = (72, 9, 8, 6, 5)
CRITICALITIES = ("medium", "high", "low", "critical", None)
CRITICALITY_WEIGHTS = (40, 25, 20, 10, 5)
TAGS = (
    "cloud", "on-premise", "pci-dss", "rgpd", "dora", "saas", "mainframe", "critical-path", "legacy", "api-first",
    "open-banking", "bcbs239", "sox", "batch", "real-time", "ia", "data-sensitive", "externalised",
)
TAG_COUNTS = (0, 1, 2, 3)
TAG_COUNT_WEIGHTS = (30, 35, 25, 10)

ENVIRONMENT_ORDER = ("dev", "uat", "preprod", "prod", "dr")
ENVIRONMENT_LETTERS = {"dev": "d", "uat": "u", "preprod": "q", "prod": "p", "dr": "r"}
OPTIONAL_ENVIRONMENTS = (("dev", 0.75), ("uat", 0.8), ("preprod", 0.45), ("dr", 0.3))
INTRANET = "intranet.bank.example"

HOSTINGS = ("vm", "kubernetes", "saas")
HOSTING_WEIGHTS = (60, 30, 10)
SITES = ("par", "lyo", "lil", "mrs", "nyc", "sgp")
SITE_WEIGHTS = (60, 15, 8, 7, 5, 5)
SITE_OCTETS = {"par": 10, "lyo": 20, "lil": 30, "mrs": 40, "nyc": 50, "sgp": 60}
OPERATING_SYSTEMS = (("lx", "RHEL 8.10"), ("lx", "RHEL 9.4"), ("wn", "Windows Server 2019"),
                     ("wn", "Windows Server 2022"), ("ax", "AIX 7.2"))
OPERATING_SYSTEM_WEIGHTS = (45, 30, 10, 10, 5)
DATABASE_ENGINES = (("Oracle 19c", 1521), ("PostgreSQL 15", 5432), ("SQL Server 2019", 1433), ("DB2 11.5", 50000),
                    ("MongoDB 6", 27017))
DATABASE_ENGINE_WEIGHTS = (40, 30, 15, 10, 5)
SAAS_VENDORS = ("salesforce", "workday", "servicenow", "coupa", "docusign", "kyriba", "moodys-analytics")

PROTOCOLS = ("REST", "SFTP", "MQ", "Kafka", "SOAP", "JDBC")
PROTOCOL_WEIGHTS = (35, 25, 15, 12, 8, 5)
# Per protocol, the frequencies and middlewares seen with it (None: a direct connection), with weights.
INTERFACE_FREQUENCIES: dict[str, tuple[tuple[str, int], ...]] = {
    "REST": (("real-time", 80), ("hourly", 10), ("daily", 10)),
    "SFTP": (("daily", 65), ("hourly", 15), ("monthly", 20)),
    "MQ": (("real-time", 85), ("hourly", 15)),
    "Kafka": (("real-time", 1),),
    "SOAP": (("real-time", 80), ("daily", 20)),
    "JDBC": (("daily", 60), ("hourly", 30), ("monthly", 10)),
}
INTERFACE_MIDDLEWARES: dict[str, tuple[tuple[str | None, int], ...]] = {
    "REST": (("API Gateway", 50), ("Apigee", 20), (None, 30)),
    "SFTP": (("CFT", 50), ("Axway", 35), (None, 15)),
    "MQ": (("IBM MQ", 1),),
    "Kafka": (("Kafka", 60), ("Confluent Kafka", 40)),
    "SOAP": (("ESB TIBCO", 40), ("webMethods", 30), (None, 30)),
    "JDBC": ((None, 1),),
}
FR_FLOWS = ("Envoi", "Export", "Publication", "Transfert", "Diffusion")  # "... vers BCA"
FR_FLOW_FREQUENCIES = {
    "real-time": "au fil de l'eau", "hourly": "toutes les heures", "daily": "en fin de journée",
    "monthly": "en fin de mois",
}
# fmt: on


class _Weighted(Generic[T]):
    """Items drawn with fixed weights from a given `random.Random`."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        self.items = list(items)
        self._cumulative = list(itertools.accumulate(weights))

    @classmethod
    def of(cls, pairs: Sequence[tuple[T, float]]) -> _Weighted[T]:
        """From (item, weight) pairs."""
        return cls([item for item, _ in pairs], [weight for _, weight in pairs])

    @classmethod
    def zipf(cls, items: Sequence[T], exponent: float = 0.8) -> _Weighted[T]:
        """The first items far more often than the last, as with words in real names."""
        return cls(items, [1 / (rank + 1) ** exponent for rank in range(len(items))])

    def pick(self, rng: random.Random) -> T:
        index = bisect.bisect_right(self._cumulative, rng.random() * self._cumulative[-1])
        return self.items[min(index, len(self.items) - 1)]


@dataclass(frozen=True)
class _Subject:
    """What one application is about: its name and its description are both made from it."""

    action: str
    omits_article: bool
    object: str
    article: str
    qualifier: str
    domain: str
    head: str
    codename: str


@dataclass(frozen=True)
class _Hosting:
    """Where one application runs: it shapes every environment's components."""

    kind: str
    site: str
    disaster_site: str
    os_code: str
    os_name: str
    database_engine: tuple[str, int] | None
    has_queue: bool
    saas_vendor: str


class _Loader:
    """Buffers rows per model and inserts them in batches, parents before children."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows: dict[type[Base], list[Row]] = {model: [] for model in LOAD_ORDER}
        self.counts: dict[str, int] = {model.__tablename__: 0 for model in LOAD_ORDER}

    def add(self, model: type[Base], row: Row) -> None:
        self.rows[model].append(row)

    def flush_if_full(self) -> None:
        if len(self.rows[Application]) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        for model in LOAD_ORDER:
            rows = self.rows[model]
            # render_nulls: a None is sent as NULL instead of dropping the column, so that every row has the
            # same columns and the whole batch goes out as multi-row INSERTs rather than one statement per row.
            statement = insert(model).execution_options(render_nulls=True)
            for start in range(0, len(rows), BATCH_SIZE):
                self.session.execute(statement, rows[start : start + BATCH_SIZE])
            self.counts[model.__tablename__] += len(rows)
            rows.clear()


class _Builder:
    """Draws every row of the referential from one random generator, in a fixed order."""

    team_weights: _Weighted[int]
    department_weights: _Weighted[int]
    popular_people: _Weighted[int]

    def __init__(self, rng: random.Random, application_count: int, loader: _Loader) -> None:
        self.rng = rng
        self.application_count = application_count
        self.loader = loader
        self.actions = _Weighted.zipf(FR_ACTIONS, 0.7)
        self.objects = _Weighted.zipf(FR_OBJECTS, 0.7)
        self.qualifiers = _Weighted.zipf(FR_QUALIFIERS, 0.7)
        self.domains = _Weighted.zipf(EN_DOMAINS, 0.7)
        self.heads = _Weighted.zipf(EN_HEADS, 0.7)
        self.codenames = _Weighted.zipf(CODENAMES, 0.5)
        self.first_names = _Weighted.zipf(FIRST_NAMES, 0.5)
        self.last_names = _Weighted.zipf(LAST_NAMES, 0.6)
        self.statuses = _Weighted(STATUSES, STATUS_WEIGHTS)
        self.criticalities = _Weighted(CRITICALITIES, CRITICALITY_WEIGHTS)
        self.hostings = _Weighted(HOSTINGS, HOSTING_WEIGHTS)
        self.sites = _Weighted(SITES, SITE_WEIGHTS)
        self.operating_systems = _Weighted(OPERATING_SYSTEMS, OPERATING_SYSTEM_WEIGHTS)
        self.database_engines = _Weighted(DATABASE_ENGINES, DATABASE_ENGINE_WEIGHTS)
        self.protocols = _Weighted(PROTOCOLS, PROTOCOL_WEIGHTS)
        self.frequencies = {protocol: _Weighted.of(pairs) for protocol, pairs in INTERFACE_FREQUENCIES.items()}
        self.middlewares = {protocol: _Weighted.of(pairs) for protocol, pairs in INTERFACE_MIDDLEWARES.items()}
        self.teams: list[int] = []
        self.departments: list[int] = []
        self.division_codes: dict[int, str] = {}  # entity id -> code of its division (repository paths)
        self.entity_count = 0
        self.people_by_entity: dict[int, list[int]] = {}
        self.trigrams: list[str] = []  # trigrams[id - 1]
        self.names: set[str] = set()
        self.used_trigrams: set[str] = set()
        self.three_letter_count = 0
        self.next_stakeholder_id = 1
        self.next_environment_id = 1
        self.next_component_id = 1

    # --- organisation ----------------------------------------------------------------------------------

    def entities(self) -> None:
        """A tree of about 300 units on four levels: group > divisions > departments > teams."""
        rng = self.rng
        group_id = self._entity(GROUP[0], GROUP[1], "group", None)
        department_specs: list[tuple[int, str, str]] = []
        for division_code, division_name, departments in DIVISIONS:
            division_id = self._entity(division_code, division_name, "division", group_id)
            self.division_codes[division_id] = division_code
            for department_code, department_name in departments:
                department_specs.append((division_id, f"{division_code}-{department_code}", department_name))
        for division_id, code, name in department_specs:
            department_id = self._entity(code, name, "department", division_id)
            self.departments.append(department_id)
            self.division_codes[department_id] = self.division_codes[division_id]
        for department_id, (_division_id, department_code, _name) in zip(
            self.departments, department_specs, strict=True
        ):
            for topic_code, topic_name in rng.sample(TEAM_TOPICS, rng.randint(4, 6)):
                name = f"{rng.choice(TEAM_PREFIXES)} {topic_name}"
                team_id = self._entity(f"{department_code}-{topic_code}", name, "team", department_id)
                self.teams.append(team_id)
                self.division_codes[team_id] = self.division_codes[department_id]
        # Some teams own many applications, others a handful: weights drawn once per unit.
        self.team_weights = _Weighted(self.teams, [rng.uniform(0.3, 3.0) for _ in self.teams])
        self.department_weights = _Weighted(self.departments, [rng.uniform(0.3, 3.0) for _ in self.departments])

    def _entity(self, code: str, name: str, kind: str, parent_id: int | None) -> int:
        self.entity_count += 1
        entity_id = self.entity_count
        self.loader.add(
            Entity,
            {
                "id": entity_id,
                "code": code,
                "name": name,
                "kind": kind,
                "parent_id": parent_id,
                "created_at": REFERENCE_TIME - timedelta(days=3650),
                "updated_at": REFERENCE_TIME - timedelta(days=30),
            },
        )
        return entity_id

    def _owning_entity(self) -> int:
        """Mostly a team; sometimes the department itself."""
        weights = self.team_weights if self.rng.random() < 0.85 else self.department_weights
        return weights.pick(self.rng)

    # --- people ----------------------------------------------------------------------------------------

    def people(self, count: int) -> None:
        """People with French and English names; logins like `hmartin`, then `hmartin2` for the next one."""
        rng = self.rng
        login_uses: dict[str, int] = {}
        for person_id in range(1, count + 1):
            first_name = self.first_names.pick(rng)
            last_name = self.last_names.pick(rng)
            base = (_initials(first_name) + _letters(last_name))[:16]
            uses = login_uses.get(base, 0) + 1
            login_uses[base] = uses
            suffix = str(uses) if uses > 1 else ""
            entity_id = self._owning_entity()
            self.people_by_entity.setdefault(entity_id, []).append(person_id)
            created = REFERENCE_TIME - timedelta(days=rng.randint(30, 4000))
            self.loader.add(
                Person,
                {
                    "id": person_id,
                    "login": base + suffix,
                    "display_name": f"{first_name} {last_name}",
                    "email": f"{_slug(first_name)}.{_slug(last_name)}{suffix}@{EMAIL_DOMAIN}",
                    "entity_id": entity_id,
                    "created_at": created,
                    "updated_at": _between(created, REFERENCE_TIME, rng),
                },
            )
            if person_id % BATCH_SIZE == 0:
                self.loader.flush()
        # A few people hold many roles (architects, the support desk), most hold a few.
        ids = list(range(1, count + 1))
        rng.shuffle(ids)
        self.popular_people = _Weighted.zipf(ids, 0.6)
        self.loader.flush()

    # --- applications ----------------------------------------------------------------------------------

    def applications(self) -> None:
        for application_id in range(1, self.application_count + 1):
            self._application(application_id)
            self.loader.flush_if_full()
        self.loader.flush()

    def _application(self, application_id: int) -> None:
        rng = self.rng
        subject = self._subject()
        name, french_share = self._name(subject)
        trigram = self._trigram(name)
        self.trigrams.append(trigram)
        status = self.statuses.pick(rng)
        go_live, end_of_support, decommission = self._lifecycle(status)
        entity_id = self._owning_entity()
        hosting = self._hosting()
        created = REFERENCE_TIME - timedelta(days=rng.randint(30, 3000), seconds=rng.randint(0, 86_399))
        lower = trigram.lower()
        documentation_url = None
        if rng.random() < 0.85:
            documentation_url = rng.choice(
                (
                    f"https://wiki.{INTRANET}/display/{trigram}/Accueil",
                    f"https://confluence.{INTRANET}/spaces/{trigram}/overview",
                    f"https://docs.{INTRANET}/{lower}/",
                )
            )
        repository_url = None
        if hosting.kind != "saas" and rng.random() < 0.7:
            repository_url = f"https://gitlab.{INTRANET}/{self.division_codes[entity_id].lower()}/{lower}"
        self.loader.add(
            Application,
            {
                "id": application_id,
                "trigram": trigram,
                "name": name,
                "description": self._description(subject, french_share),
                "status": status,
                "criticality": self.criticalities.pick(rng),
                "entity_id": entity_id,
                "go_live_date": go_live,
                "end_of_support_date": end_of_support,
                "decommission_date": decommission,
                "tags": ",".join(rng.sample(TAGS, rng.choices(TAG_COUNTS, TAG_COUNT_WEIGHTS)[0])) or None,
                "documentation_url": documentation_url,
                "repository_url": repository_url,
                "created_at": created,
                "updated_at": _between(created, REFERENCE_TIME, rng),
            },
        )
        self._stakeholders(application_id, entity_id)
        self._environments(application_id, trigram, status, hosting)

    def _subject(self) -> _Subject:
        rng = self.rng
        action, omits_article = self.actions.pick(rng)
        object_, article = self.objects.pick(rng)
        return _Subject(
            action=action,
            omits_article=omits_article,
            object=object_,
            article=article,
            qualifier=self.qualifiers.pick(rng),
            domain=self.domains.pick(rng),
            head=self.heads.pick(rng),
            codename=self.codenames.pick(rng),
        )

    def _name(self, subject: _Subject) -> tuple[str, float]:
        """French ("Gestion des Paiements SEPA"), English ("Risk Engine"), mixed ("Pricing Dérivés") or a
        codename ("Athéna - Pilotage des Risques"); with the odds that its description is in French."""
        rng = self.rng
        style = rng.random()
        french_share = 0.6
        if style < 0.55:
            name, french_share = self._french_name(subject), 0.9
        elif style < 0.78:
            name, french_share = f"{subject.domain} {subject.head}", 0.25
            if rng.random() < 0.25:
                name += f" {rng.choice(EN_QUALIFIERS)}"
        elif style < 0.88 and rng.random() < 0.6:
            name = f"{subject.domain} {subject.object}"
        elif style < 0.88:
            name = f"{subject.domain} {subject.head} {subject.qualifier}"
        elif style < 0.92:
            name = subject.codename
        else:
            name, french_share = f"{subject.codename} - {self._french_name(subject)}", 0.9
        if rng.random() < 0.03:
            name += f" {rng.choice(VERSION_SUFFIXES)}"
        # A second "Gestion des Paiements" is usually told apart by its scope, as in real portfolios.
        for _ in range(3):
            if name not in self.names or rng.random() < 0.05:
                break
            qualifier = self.qualifiers.pick(rng) if rng.random() < 0.8 else rng.choice(EN_QUALIFIERS)
            if qualifier not in name:
                name += f" {qualifier}"
        self.names.add(name)
        return name, french_share

    def _french_name(self, subject: _Subject) -> str:
        rng = self.rng
        with_article = rng.random() < (0.3 if subject.omits_article else 0.85)
        name = f"{subject.action} {subject.article if with_article else ''}{subject.object}"
        if rng.random() < 0.4:
            name += f" {subject.qualifier}"
        return name

    def _description(self, subject: _Subject, french_share: float) -> str:
        rng = self.rng
        second_object, second_article = self.objects.pick(rng)
        if second_object == subject.object:
            second_object, second_article = self.objects.pick(rng)
        # The name's own action when it reads well in a sentence ("Valorisation des..." -> "de valorisation").
        action = subject.action.lower()
        if action not in FR_DESCRIPTION_ACTIONS or rng.random() < 0.3:
            action = rng.choice(FR_DESCRIPTION_ACTIONS)
        values = {
            "of_action": _of(action),
            "verb": rng.choice(FR_VERBS),
            "article": subject.article,
            "definite": DEFINITE_ARTICLES[subject.article],
            "object": _common_noun(subject.object),
            "article2": second_article,
            "object2": _common_noun(second_object),
            "domain": subject.domain,
            "domain_lower": _common_noun(subject.domain),
            "head": subject.head,
            "head_lower": subject.head.lower(),
            "year": rng.randint(2026, 2029),
            "codename": self.codenames.pick(rng),
            "users": rng.choice(USER_COUNTS),
            "regulation": rng.choice(REGULATIONS),
            "metric": rng.choice(EN_METRICS),
            "things": rng.choice(EN_THINGS),
        }
        sentences: Sequence[str]
        follow_ups: Sequence[str]
        if rng.random() < french_share:
            system = rng.choice(FR_SYSTEMS)
            values |= {
                "system": system,
                "of_system": _of(system),
                "system2": rng.choice(FR_SYSTEMS),
                "platform": rng.choice(FR_PLATFORMS),
                "audience": rng.choice(FR_AUDIENCES),
                "scope": rng.choice(FR_SCOPES),
                "frequency": rng.choice(FR_FREQUENCIES),
            }
            sentences, follow_ups = FR_SENTENCES, FR_FOLLOW_UPS
        else:
            values |= {
                "system": rng.choice(EN_SYSTEMS),
                "platform": rng.choice(EN_PLATFORMS),
                "audience": rng.choice(EN_AUDIENCES),
                "scope": rng.choice(EN_SCOPES),
                "frequency": rng.choice(EN_FREQUENCIES),
            }
            sentences, follow_ups = EN_SENTENCES, EN_FOLLOW_UPS
        description = rng.choice(sentences).format(**values)
        if rng.random() < 0.6:
            description += " " + rng.choice(follow_ups).format(**values)
        return description[0].upper() + description[1:]

    def _trigram(self, name: str) -> str:
        """A code derived from the name (GPS, PAI, ATH), or a free one; BCA2-style once it is taken."""
        rng = self.rng
        base = self._base_code(name)
        if base not in self.used_trigrams:
            return self._use_trigram(base)
        crowded = self.three_letter_count >= CROWDED_THREE_LETTER_SHARE * THREE_LETTER_CODES
        if not crowded and rng.random() < 0.5:
            for _ in range(30):
                candidate = "".join(rng.choices(string.ascii_uppercase, k=3))
                if candidate not in self.used_trigrams:
                    return self._use_trigram(candidate)
        # A version digit (BCA2) first, then a letter and digits (PAYX1): the suffix grows with crowding.
        for attempt in range(10_000):
            length = 1 if attempt < 6 else 2 if attempt < 30 else 3 if attempt < 200 else 4
            first = rng.choice("23456789") if rng.random() < 0.6 else rng.choice(string.ascii_uppercase)
            rest = "".join(
                rng.choice(string.digits) if rng.random() < 0.7 else rng.choice(string.ascii_uppercase)
                for _ in range(length - 1)
            )
            candidate = base + first + rest
            if candidate not in self.used_trigrams:
                return self._use_trigram(candidate)
        raise RuntimeError(f"no free trigram left for {base}")  # 36**4 suffixes per code: never in practice

    def _use_trigram(self, trigram: str) -> str:
        self.used_trigrams.add(trigram)
        if len(trigram) == 3:
            self.three_letter_count += 1
        return trigram

    def _base_code(self, name: str) -> str:
        rng = self.rng
        words = [word.upper() for word in re.findall(r"[a-z]+", _ascii(name)) if word not in NAME_STOPWORDS]
        choice = rng.random()
        if len(words) >= 3 and choice < 0.45:
            code = words[0][0] + words[1][0] + words[2][0]
        elif len(words) >= 2 and choice < 0.75:
            code = words[0][0] + words[1][:2]
        else:
            code = words[1 if len(words) > 1 and rng.random() < 0.5 else 0][:3] if words else ""
        while len(code) < 3:
            code += rng.choice(string.ascii_uppercase)
        return code

    def _lifecycle(self, status: str) -> tuple[date | None, date | None, date | None]:
        """Go-live, end of support and decommission dates that agree with the status."""
        rng = self.rng

        def day(offset: int) -> date:
            return REFERENCE_DATE + timedelta(days=offset)

        if status == "plan":
            return day(rng.randint(120, 900)), None, None
        if status == "build":
            return day(rng.randint(20, 400)), None, None
        if status == "production":
            end_of_support = day(rng.randint(90, 2500)) if rng.random() < 0.35 else None
            return day(-rng.randint(30, 9000)), end_of_support, None
        if status == "decommissioning":
            return day(-rng.randint(2000, 10000)), day(-rng.randint(0, 730)), day(rng.randint(30, 600))
        decommission = day(-rng.randint(30, 3000))
        end_of_support = decommission - timedelta(days=rng.randint(0, 400))
        return end_of_support - timedelta(days=rng.randint(1000, 7000)), end_of_support, decommission

    # --- stakeholders ------------------------------------------------------------------------------------

    def _stakeholders(self, application_id: int, entity_id: int) -> None:
        """Exactly one owner, then one to four other roles, mostly held by people of the owning entity."""
        rng = self.rng
        extra = rng.choices(EXTRA_ROLE_COUNTS, EXTRA_ROLE_WEIGHTS)[0]
        # Weighted sampling without replacement: each role keeps random() ** (1 / weight) as its draw.
        draws = {role: rng.random() ** (1 / weight) for role, weight in OTHER_ROLES}
        roles = ["owner", *sorted(draws, key=draws.__getitem__, reverse=True)[:extra]]
        colleagues = self.people_by_entity.get(entity_id, [])
        for role in roles:
            person_id = rng.choice(colleagues) if colleagues and rng.random() < 0.6 else self.popular_people.pick(rng)
            self.loader.add(
                Stakeholder,
                {
                    "id": self.next_stakeholder_id,
                    "application_id": application_id,
                    "person_id": person_id,
                    "role": role,
                },
            )
            self.next_stakeholder_id += 1

    # --- environments and components --------------------------------------------------------------------

    def _hosting(self) -> _Hosting:
        rng = self.rng
        site = self.sites.pick(rng)
        os_code, os_name = self.operating_systems.pick(rng)
        return _Hosting(
            kind=self.hostings.pick(rng),
            site=site,
            disaster_site="lyo" if site == "par" else "par",
            os_code=os_code,
            os_name=os_name,
            database_engine=self.database_engines.pick(rng) if rng.random() < 0.65 else None,
            has_queue=rng.random() < 0.2,
            saas_vendor=rng.choice(SAAS_VENDORS),
        )

    def _environments(self, application_id: int, trigram: str, status: str, hosting: _Hosting) -> None:
        """Prod always, plus one to three of dev, uat, preprod and dr."""
        rng = self.rng
        kinds = [kind for kind, probability in OPTIONAL_ENVIRONMENTS if rng.random() < probability]
        if not kinds:
            kinds.append(rng.choice(("dev", "uat")))
        if len(kinds) > 3:
            kinds.remove(rng.choice(kinds))
        lower = trigram.lower()
        created = REFERENCE_TIME - timedelta(days=rng.randint(30, 2000))
        for kind in sorted([*kinds, "prod"], key=ENVIRONMENT_ORDER.index):
            url: str | None = f"https://{lower}.{INTRANET}" if kind == "prod" else f"https://{lower}-{kind}.{INTRANET}"
            if hosting.kind == "saas":
                url = f"https://{lower}{'' if kind == 'prod' else '-' + kind}.{hosting.saas_vendor}.example"
            elif rng.random() < 0.1:
                url = None  # batch applications have no URL
            environment_id = self.next_environment_id
            self.next_environment_id += 1
            self.loader.add(
                Environment,
                {
                    "id": environment_id,
                    "application_id": application_id,
                    "kind": kind,
                    "name": kind.upper(),
                    "url": url,
                    "status": _environment_status(status, kind, rng),
                    "created_at": created,
                    "updated_at": created,
                },
            )
            self._components(environment_id, trigram, kind, url, hosting)

    def _components(self, environment_id: int, trigram: str, kind: str, url: str | None, hosting: _Hosting) -> None:
        """One to three of: servers `par-lx-bca-p01`, a namespace `bca-prod`, a schema `BCA_PROD`, a queue."""
        rng = self.rng
        lower = trigram.lower()
        site = hosting.disaster_site if kind == "dr" else hosting.site
        letter = ENVIRONMENT_LETTERS[kind]
        components: list[tuple[str, str, dict[str, Any]]] = []
        if hosting.kind == "vm":
            servers = 2 if kind in ("prod", "dr") and rng.random() < 0.4 else 1
            for number in range(1, servers + 1):
                ip = f"10.{SITE_OCTETS[site]}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
                components.append(
                    (
                        "server",
                        f"{site}-{hosting.os_code}-{lower}-{letter}{number:02d}",
                        {
                            "ip": ip,
                            "os": hosting.os_name,
                            "cpu": rng.choice((2, 4, 8, 16)),
                            "memory_gb": rng.choice((8, 16, 32, 64)),
                        },
                    )
                )
        elif hosting.kind == "kubernetes":
            cluster = f"ocp-{site}-{'prod' if kind in ('prod', 'dr') else 'hprod'}-0{rng.randint(1, 3)}"
            components.append(("namespace", f"{lower}-{kind}", {"cluster": cluster}))
        else:
            vendor = hosting.saas_vendor
            components.append(("url", url or f"https://{lower}.{vendor}.example", {"vendor": vendor}))
        if hosting.database_engine and len(components) < 3:
            engine, port = hosting.database_engine
            components.append(("database", f"{trigram}_{kind.upper()}", {"engine": engine, "port": port}))
        if hosting.has_queue and len(components) < 3:
            components.append(
                ("queue", f"{trigram}.{kind.upper()}.IN", {"manager": f"QM{site.upper()}{letter.upper()}01"})
            )
        for component_kind, name, attributes in components:
            self.loader.add(
                Component,
                {
                    "id": self.next_component_id,
                    "environment_id": environment_id,
                    "kind": component_kind,
                    "name": name,
                    "attributes": attributes,
                },
            )
            self.next_component_id += 1

    # --- interfaces -------------------------------------------------------------------------------------

    def interfaces(self) -> None:
        """About one flow per application, between random pairs; a few hubs (referentials) receive many."""
        rng = self.rng
        count = self.application_count
        order = list(range(1, count + 1))
        rng.shuffle(order)
        hubs = _Weighted.zipf(order, 0.7)
        seen: set[tuple[int, int, str]] = set()
        interface_id = 0
        for _ in range(count):
            source = rng.randint(1, count)
            target = hubs.pick(rng)
            protocol = self.protocols.pick(rng)
            if source == target or (source, target, protocol) in seen:
                continue
            seen.add((source, target, protocol))
            frequency = self.frequencies[protocol].pick(rng)
            object_, article = self.objects.pick(rng)
            description = (
                f"{rng.choice(FR_FLOWS)} {article}{_common_noun(object_)} vers {self.trigrams[target - 1]} "
                f"{FR_FLOW_FREQUENCIES[frequency]}."
            )
            interface_id += 1
            created = REFERENCE_TIME - timedelta(days=rng.randint(30, 2000))
            self.loader.add(
                Interface,
                {
                    "id": interface_id,
                    "source_application_id": source,
                    "target_application_id": target,
                    "protocol": protocol,
                    "frequency": frequency,
                    "middleware": self.middlewares[protocol].pick(rng),
                    "description": description,
                    "created_at": created,
                    "updated_at": created,
                },
            )
            if interface_id % BATCH_SIZE == 0:
                self.loader.flush()
        self.loader.flush()


def _environment_status(application_status: str, kind: str, rng: random.Random) -> str:
    if application_status == "plan":
        return "planned"
    if application_status == "build":
        return "planned" if kind in ("prod", "dr") else "active"
    if application_status == "retired":
        return "retired"
    if application_status == "decommissioning" and kind != "prod" and rng.random() < 0.5:
        return "retired"
    return "active"


def _between(start: datetime, end: datetime, rng: random.Random) -> datetime:
    """A whole second between `start` and `end`."""
    return start + timedelta(seconds=int((end - start).total_seconds() * rng.random()))


def _of(noun: str) -> str:
    """French "de" with elision and contraction: de gestion, d'historisation, du SI comptable, de la plateforme."""
    if noun.startswith("le "):
        return "du " + noun[3:]
    if noun.startswith("les "):
        return "des " + noun[4:]
    if noun.startswith(("la ", "l'")):
        return "de " + noun
    return f"d'{noun}" if _ascii(noun)[0] in "aeiouyh" else f"de {noun}"


# Letters that Unicode does not decompose into a base letter and an accent.
UNDECOMPOSED_LETTERS = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "æ": "ae", "œ": "oe", "ß": "ss"})


def _ascii(text_: str) -> str:
    """Lowercase ASCII for codes, logins and e-mail addresses: "Łukasz Østergaard" -> "lukasz ostergaard"."""
    return fold(text_.lower().translate(UNDECOMPOSED_LETTERS))


def _letters(text_: str) -> str:
    return re.sub(r"[^a-z]", "", _ascii(text_))


def _initials(first_name: str) -> str:
    """Initials for a login: Hélène -> h, Jean-François -> jf."""
    return "".join(part[0] for part in re.findall(r"[a-z]+", _ascii(first_name)))


def _slug(name: str) -> str:
    """A name for an e-mail address: Jean-François -> jean-francois, O'Brien -> obrien, Le Gall -> legall."""
    return re.sub(r"[^a-z-]", "", _ascii(name))


def _common_noun(phrase: str) -> str:
    """A title-case phrase as it reads mid-sentence ("Crédit immobilier" -> "crédit immobilier"); acronyms stay."""
    return " ".join(word if word.isupper() else word[0].lower() + word[1:] for word in phrase.split())


# --- the entry point ------------------------------------------------------------------------------------


def generate(
    session: Session, size: str = "XS", seed: int = 42, *, applications: int | None = None, replace: bool = False
) -> dict[str, int]:
    """Load a generated referential of `size` (XS, S, L) and rebuild the search index; returns rows per table.

    `applications` overrides the size's application count (tests, quick demos). Raises `DemoDataError` if
    the database already holds applications, unless `replace` is true: then everything the generator writes
    is deleted first. The caller commits.
    """
    count = applications if applications is not None else SIZES[size.upper()]
    if count < 1:
        raise ValueError("a demo referential needs at least one application")
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        # A bulk load (and deleting an L referential) takes longer than the request statement timeout.
        session.execute(text("SET LOCAL statement_timeout = 0"))
    if session.scalar(select(Application.id).limit(1)) is not None:
        if not replace:
            raise DemoDataError("The database already holds applications: use replace=True (--replace) to reload.")
        _delete_referential(session)

    loader = _Loader(session)
    builder = _Builder(random.Random(seed), count, loader)  # nosec B311  # reproducible demo data, no secret
    builder.entities()
    loader.flush()
    builder.people(max(MIN_PEOPLE, count // APPLICATIONS_PER_PERSON))
    builder.applications()
    builder.interfaces()
    counts = dict(loader.counts)

    counts[SearchDocument.__tablename__] = rebuild(session)
    counts[SearchTermVariant.__tablename__] = session.scalar(select(func.count()).select_from(SearchTermVariant)) or 0
    if postgresql:
        _reset_sequences(session)
        tables = ", ".join(model.__tablename__ for model in DELETE_ORDER)
        session.execute(text(f"ANALYZE {tables}"))
    return counts


def _delete_referential(session: Session) -> None:
    """Empty every table the generator fills, children before parents."""
    for model in DELETE_ORDER:
        if model is Entity:
            # The tree references itself (ON DELETE RESTRICT): detach it before deleting it.
            session.execute(update(Entity).values(parent_id=None).execution_options(synchronize_session=False))
        session.execute(delete(model).execution_options(synchronize_session=False))


def _reset_sequences(session: Session) -> None:
    """Ids were assigned here, so move each sequence past them for the inserts that come later."""
    for model in LOAD_ORDER:
        sequence = func.pg_get_serial_sequence(model.__tablename__, "id")
        session.execute(select(func.setval(sequence, func.max(model.__table__.c.id))))
