"""Parameters of the latent personas and of the product catalogue.

Every number that shapes the sample bank lives here, so the planted truths can
be read in one place (and are copied into the truth file). Arrays are indexed
by persona in the order of :data:`PERSONAS` and by product in the order of
``analytics.common.types.PRODUCT_IDS``.
"""

from __future__ import annotations

import numpy as np

from analytics.store.contracts import FEATURE_MERCHANT_CATEGORIES, FEATURE_TXN_CHANNELS

PERSONAS: tuple[str, ...] = (
    "student",
    "young_professional",
    "family",
    "affluent",
    "retiree",
    "small_business",
)

DESCRIPTIONS: dict[str, str] = {
    "student": (
        "18-27, low income, monthly allowance, app-first and very digital, spends on food, transport, "
        "entertainment and subscriptions, few products, highest churn."
    ),
    "young_professional": (
        "22-40, salaried, app-first, card spend on restaurants and retail, takes up credit cards and "
        "first mortgages, above-average churn."
    ),
    "family": (
        "28-60, salaried household, groceries, fuel, utilities and retail, holds mortgage and insurance, "
        "many products, low churn."
    ),
    "affluent": (
        "30-80, high income and balances, travels abroad often, holds investment funds and savings, "
        "highest NPS, lowest fee sensitivity."
    ),
    "retiree": (
        "63-95, pension credit, few digital sessions (mostly web), prefers branch and phone, large "
        "savings balances, lowest churn."
    ),
    "small_business": (
        "25-72, self-employed, irregular business income, business supplies and transfers, many support "
        "contacts about fees and payments, lowest NPS."
    ),
}

SHARES = np.array([0.12, 0.22, 0.26, 0.10, 0.20, 0.10])

# Age on the snapshot date: normal(mean, sd) clipped to [lo, hi].
AGE_MEAN = np.array([21.5, 30.0, 42.0, 51.0, 72.0, 46.0])
AGE_SD = np.array([2.4, 3.8, 6.5, 9.0, 6.0, 9.0])
AGE_LO = np.array([18.0, 22.0, 28.0, 30.0, 63.0, 25.0])
AGE_HI = np.array([27.0, 40.0, 60.0, 80.0, 95.0, 72.0])

# Declared gross annual income in EUR: lognormal(log(median), sigma).
INCOME_MEDIAN = np.array([9_500.0, 44_000.0, 58_000.0, 140_000.0, 27_000.0, 52_000.0])
INCOME_SIGMA = np.array([0.45, 0.30, 0.35, 0.45, 0.35, 0.60])

# Credit score: persona mean plus an income effect plus noise, clipped to 300-850.
CREDIT_MEAN = np.array([615.0, 680.0, 700.0, 765.0, 730.0, 650.0])
CREDIT_SD = 55.0

# Years of relationship before the history window (exponential mean); share that joins inside it.
TENURE_YEARS = np.array([2.5, 5.0, 11.0, 15.0, 25.0, 8.0])
NEW_IN_WINDOW = np.array([0.25, 0.15, 0.06, 0.05, 0.02, 0.10])

GENDERS: tuple[str, ...] = ("female", "male", "other")
GENDER_SHARES = np.array([0.49, 0.495, 0.015])

OCCUPATIONS: dict[str, tuple[str, ...]] = {
    "student": ("Student",),
    "young_professional": (
        "Software developer",
        "Nurse",
        "Teacher",
        "Marketing specialist",
        "Accountant",
        "Sales representative",
        "Engineer",
        "Consultant",
        "Data analyst",
        "Police officer",
    ),
    "family": (
        "Teacher",
        "Nurse",
        "Civil servant",
        "Engineer",
        "Project manager",
        "Accountant",
        "Logistics planner",
        "Police officer",
        "Sales manager",
        "Technician",
    ),
    "affluent": (
        "Physician",
        "Lawyer",
        "Executive",
        "Pharmacist",
        "Investment manager",
        "Architect",
        "Dentist",
        "IT director",
    ),
    "retiree": ("Retired",),
    "small_business": (
        "Self-employed",
        "Shop owner",
        "Contractor",
        "Freelance designer",
        "Restaurant owner",
        "Plumber",
        "Electrician",
        "Hairdresser",
        "Independent consultant",
    ),
}

CHANNELS_PREFERRED: tuple[str, ...] = ("mobile_app", "web", "branch", "phone")
PREFERRED_CHANNEL_P = np.array(
    [
        [0.85, 0.10, 0.03, 0.02],
        [0.75, 0.18, 0.04, 0.03],
        [0.60, 0.25, 0.10, 0.05],
        [0.45, 0.35, 0.12, 0.08],
        [0.15, 0.25, 0.35, 0.25],
        [0.40, 0.40, 0.10, 0.10],
    ]
)
# Customers who prefer the branch or the phone log in far less.
SESSION_MULT_BY_CHANNEL = np.array([1.2, 1.0, 0.35, 0.4])

# Share refusing marketing / profiling consent.
REFUSE_MARKETING = np.array([0.08, 0.10, 0.11, 0.14, 0.17, 0.12])
REFUSE_PROFILING = np.array([0.05, 0.06, 0.06, 0.07, 0.08, 0.06])

# Digital sessions per active month (gamma-distributed across customers) and app share.
SESSIONS_PER_MONTH = np.array([4.2, 3.8, 2.6, 2.4, 0.8, 3.0])
APP_SHARE = np.array([0.92, 0.85, 0.75, 0.60, 0.35, 0.55])

# Debit transactions per active month (gamma across customers, shape TXN_SHAPE).
DEBITS_PER_MONTH = np.array([1.35, 1.45, 1.55, 1.45, 0.85, 1.5])
TXN_SHAPE = 1.5
# Relative spend level (scales every debit amount), spread by a persistent lognormal per customer:
# the customer-level spread dominates the per-transaction spread, so past spend predicts future spend.
SPEND_SCALE = np.array([0.55, 1.0, 1.1, 2.1, 0.85, 1.3])
SPEND_SIGMA = 0.9
# Probability that a card or cash transaction in an ordinary month happens abroad.
TRAVEL_BASE = np.array([0.03, 0.04, 0.03, 0.07, 0.04, 0.03])
ONLINE_BIAS = np.array([0.25, 0.15, 0.05, 0.05, -0.15, 0.05])

# Credits: kind per persona and share of the persona receiving it monthly.
# students: allowance from parents; retirees: pension; small businesses: irregular business income.
SALARY_KIND: tuple[str, ...] = ("allowance", "salary", "salary", "salary", "pension", "business_income")
SALARY_SHARE = np.array([0.55, 0.97, 0.97, 0.95, 0.99, 1.0])
BUSINESS_CREDITS_PER_MONTH = 1.3

# Support contacts per active month (mean; gamma shape 1 across customers).
SUPPORT_PER_MONTH = np.array([0.045, 0.05, 0.055, 0.045, 0.06, 0.085])
SUPPORT_CHANNELS: tuple[str, ...] = ("chat", "phone", "branch", "email")
SUPPORT_CHANNEL_P = np.array(
    [
        [0.60, 0.20, 0.05, 0.15],
        [0.55, 0.25, 0.05, 0.15],
        [0.40, 0.35, 0.10, 0.15],
        [0.30, 0.40, 0.15, 0.15],
        [0.10, 0.50, 0.30, 0.10],
        [0.35, 0.40, 0.10, 0.15],
    ]
)

# Latent satisfaction on the 0-10 scale (customer mean); answers add response noise.
SATISFACTION_MEAN = np.array([7.9, 7.8, 8.1, 8.6, 8.6, 7.3])
SATISFACTION_SD = 1.2
RESPONSE_SD = 1.1

# Churn: persona offset on the log-odds of closing within the window.
CHURN_PERSONA_OFFSET = np.array([0.5, 0.3, -0.2, -0.3, -0.6, 0.3])
CHURN_TARGET_SHARE = 0.13
CLOSURE_REASONS: tuple[str, ...] = (
    "switched_to_competitor",
    "fees_and_charges",
    "service_dissatisfaction",
    "moved_abroad",
    "no_longer_needed",
    "deceased",
)

# Product take-up propensity (share holding the product), rows = personas, columns = PRODUCT_IDS:
# current_account, savings, credit_card, personal_loan, mortgage, investment_fund, insurance.
PROPENSITY = np.array(
    [
        [0.97, 0.35, 0.08, 0.03, 0.00, 0.03, 0.05],
        [0.98, 0.50, 0.40, 0.12, 0.15, 0.10, 0.18],
        [0.99, 0.55, 0.45, 0.20, 0.55, 0.14, 0.45],
        [0.99, 0.80, 0.70, 0.06, 0.50, 0.65, 0.45],
        [0.98, 0.70, 0.25, 0.04, 0.12, 0.25, 0.35],
        [0.97, 0.40, 0.50, 0.25, 0.25, 0.12, 0.30],
    ]
)

# Catalogue: name, category, monthly fee (EUR), annual net margin on the balance.
PRODUCTS: dict[str, tuple[str, str, float, float]] = {
    "current_account": ("Current Account", "deposit", 2.50, 0.015),
    "savings": ("Flexible Savings", "deposit", 0.00, 0.012),
    "credit_card": ("Classic Credit Card", "lending", 1.50, 0.090),
    "personal_loan": ("Personal Loan", "lending", 0.00, 0.035),
    "mortgage": ("Home Mortgage", "lending", 0.00, 0.012),
    "investment_fund": ("Global Index Fund", "investment", 0.00, 0.010),
    "insurance": ("Home & Life Insurance", "insurance", 9.50, 0.000),
}

# Balance of a holding: lognormal with median = factor * annual income (or a fixed median), sigma.
BALANCE_INCOME_FACTOR = {
    "current_account": (0.07, 0.8),
    "savings": (0.35, 1.0),
    "credit_card": (0.03, 0.7),
    "personal_loan": (0.25, 0.5),
    "mortgage": (4.2, 0.35),
    "investment_fund": (0.45, 1.1),
    "insurance": (3.0, 0.4),
}
# Savings and investments are larger for affluent customers and retirees than income alone says.
BALANCE_PERSONA_MULT = {
    "savings": np.array([1.0, 0.8, 0.8, 1.6, 2.5, 0.9]),
    "investment_fund": np.array([0.5, 0.8, 0.8, 1.8, 2.2, 0.9]),
}

# Debit merchant categories, their median amount (EUR) and lognormal sigma. The categories are
# the contract's: each has a spend-share column in customer_features.
DEBIT_CATEGORIES: tuple[str, ...] = FEATURE_MERCHANT_CATEGORIES
CATEGORY_MEDIAN = np.array([38, 30, 14, 60, 55, 190, 240, 28, 95, 45, 140, 70, 13, 170, 230], dtype=float)
CATEGORY_SIGMA = np.array(
    [0.38, 0.38, 0.42, 0.25, 0.49, 0.49, 0.56, 0.42, 0.25, 0.42, 0.35, 0.32, 0.25, 0.56, 0.56]
)
CATEGORY_WEIGHTS = np.array(
    [
        [25, 18, 14, 1, 12, 4, 4, 12, 3, 2, 6, 4, 10, 5, 0],
        [22, 16, 8, 5, 14, 4, 6, 8, 6, 3, 1, 3, 7, 8, 0],
        [30, 8, 5, 9, 14, 3, 5, 5, 9, 5, 3, 3, 4, 8, 0],
        [20, 14, 5, 6, 15, 4, 11, 6, 6, 4, 2, 2, 4, 12, 0],
        [32, 8, 4, 5, 10, 1, 6, 4, 11, 10, 0, 7, 2, 6, 0],
        [14, 8, 4, 10, 8, 5, 4, 3, 7, 2, 1, 3, 5, 8, 20],
    ],
    dtype=float,
)
TXN_CHANNELS: tuple[str, ...] = FEATURE_TXN_CHANNELS
# Channel given the category (rows follow DEBIT_CATEGORIES).
CATEGORY_CHANNEL_P = np.array(
    [
        [0.93, 0.07, 0, 0, 0],
        [0.90, 0.10, 0, 0, 0],
        [0.50, 0.50, 0, 0, 0],
        [1.00, 0.00, 0, 0, 0],
        [0.55, 0.45, 0, 0, 0],
        [0.35, 0.65, 0, 0, 0],
        [0.15, 0.85, 0, 0, 0],
        [0.40, 0.60, 0, 0, 0],
        [0.00, 0.00, 0, 0.10, 0.90],
        [0.60, 0.20, 0, 0.20, 0],
        [0.00, 0.30, 0, 0.40, 0.30],
        [0.00, 0.00, 1, 0, 0],
        [0.00, 0.50, 0, 0, 0.50],
        [0.00, 0.00, 0, 1, 0],
        [0.30, 0.50, 0, 0.20, 0],
    ]
)

# Seasonality by calendar month (index 0 = January).
MONTH_TXN_MULT = np.array([0.92, 0.90, 0.97, 1.0, 1.02, 1.03, 1.06, 1.05, 0.98, 1.0, 1.06, 1.22])
MONTH_TRAVEL_MULT = np.array([1.0, 1.1, 1.0, 1.4, 1.2, 1.8, 3.5, 3.5, 1.3, 1.1, 1.0, 1.6])
MONTH_SESSION_MULT = np.array([1.05, 1.0, 1.0, 1.0, 0.98, 0.96, 0.9, 0.9, 1.0, 1.02, 1.04, 1.08])


def month_category_multiplier(calendar_month: int) -> np.ndarray:
    """Relative weight of each debit category in a calendar month (1-12): December retail, summer travel."""
    mult = np.ones(len(DEBIT_CATEGORIES))
    retail = [DEBIT_CATEGORIES.index("retail"), DEBIT_CATEGORIES.index("electronics")]
    travel = DEBIT_CATEGORIES.index("travel")
    restaurants = DEBIT_CATEGORIES.index("restaurants")
    if calendar_month == 11:
        mult[retail] = 1.4
    if calendar_month == 12:
        mult[retail] = 2.2
        mult[restaurants] = 1.3
        mult[travel] = 1.4
    mult[travel] *= {6: 1.6, 7: 2.6, 8: 2.4}.get(calendar_month, 1.0)
    return mult


# Countries (home is NL). Euro-area destinations carry no FX fee.
HOME_COUNTRY = "NL"
TRAVEL_COUNTRIES: tuple[str, ...] = (
    "DE",
    "BE",
    "FR",
    "ES",
    "IT",
    "PT",
    "AT",
    "GR",
    "GB",
    "CH",
    "US",
    "TR",
    "TH",
)
TRAVEL_COUNTRY_P = np.array([0.20, 0.15, 0.14, 0.14, 0.10, 0.05, 0.04, 0.04, 0.05, 0.02, 0.04, 0.02, 0.01])
ONLINE_FOREIGN_COUNTRIES: tuple[str, ...] = ("IE", "LU", "DE", "GB", "US")
ONLINE_FOREIGN_P = np.array([0.35, 0.25, 0.2, 0.1, 0.1])
EURO_COUNTRIES = frozenset({"NL", "DE", "BE", "FR", "ES", "IT", "PT", "AT", "GR", "IE", "LU"})

# Bank revenue on transactions.
INTERCHANGE_PRESENT = 0.002
INTERCHANGE_ONLINE = 0.003
FX_MARKUP = 0.012
ATM_FOREIGN_FEE = 2.25

REGIONS_CITIES: dict[str, tuple[tuple[str, float], ...]] = {
    "Capital": (("Amsterdam", 0.80), ("Amstelveen", 0.1), ("Zaandam", 0.1)),
    "North": (("Groningen", 0.4), ("Leeuwarden", 0.25), ("Assen", 0.15), ("Emmen", 0.2)),
    "South": (("Eindhoven", 0.3), ("Tilburg", 0.25), ("Breda", 0.2), ("Maastricht", 0.15), ("Venlo", 0.1)),
    "East": (("Enschede", 0.25), ("Arnhem", 0.25), ("Nijmegen", 0.25), ("Zwolle", 0.15), ("Apeldoorn", 0.1)),
    "West": (("Rotterdam", 0.4), ("The Hague", 0.35), ("Leiden", 0.1), ("Haarlem", 0.1), ("Delft", 0.05)),
    "Central": (("Utrecht", 0.55), ("Amersfoort", 0.25), ("Almere", 0.2)),
}
REGION_SHARES = np.array([0.16, 0.10, 0.21, 0.18, 0.22, 0.13])
