"""Free-text templates: survey comments by theme and sentiment, support transcripts by topic.

Comments and transcripts are assembled vectorized from these lists (a template
index per row, then an optional sentence with personal data appended), so the
feedback analysis has recognisable themes and the redaction has names, phone
numbers and e-mail addresses to find.
"""

from __future__ import annotations

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")

COMMENT_THEMES: tuple[str, ...] = (
    "fees",
    "mobile_app",
    "customer_service",
    "branch",
    "interest_rates",
    "card",
    "onboarding",
    "loans",
)

COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "fees": {
        "negative": (
            "The monthly account fee went up again and nobody told me why.",
            "Too many hidden fees, I pay more here than at any other bank.",
            "Charged a fee for a simple foreign payment, that is not acceptable.",
            "The fees on the credit card are far too high for what you get.",
        ),
        "neutral": (
            "Fees are okay but could be explained more clearly.",
            "The fee overview is hard to find, otherwise fine.",
            "Fees are similar to other banks, nothing special.",
        ),
        "positive": (
            "Fair fees and no surprises on my statement.",
            "I like that card payments in the euro area cost me nothing extra.",
            "Reasonable account fee for everything that is included.",
        ),
    },
    "mobile_app": {
        "negative": (
            "The app is slow and the menu is confusing since the redesign.",
            "The app keeps logging me out when I switch screens.",
            "Sometimes I cannot log in to the app on the first try.",
            "I miss a proper spending overview in the app.",
        ),
        "neutral": (
            "The app works, but the design is a bit cluttered.",
            "App is fine for payments, I would like budgeting tools.",
            "Mobile banking does what it should, nothing more.",
        ),
        "positive": (
            "Great app, paying and saving takes seconds.",
            "The mobile app is the best I have used, very clear.",
            "Love the spending insights in the app.",
            "Scanning bills and paying them in the app is brilliant.",
        ),
    },
    "customer_service": {
        "negative": (
            "Waited forty minutes on the phone before anyone answered.",
            "The helpdesk sent me from one department to another.",
            "Nobody called me back although it was promised.",
        ),
        "neutral": (
            "Service was okay, it took a while but my question was answered.",
            "Friendly staff but the process is slow.",
        ),
        "positive": (
            "Very helpful employee, my problem was solved right away.",
            "Quick and friendly answer in the chat.",
            "Excellent service, they really took the time for me.",
        ),
    },
    "branch": {
        "negative": (
            "My local branch closed and the nearest one is far away.",
            "Long queue at the branch and only one desk open.",
        ),
        "neutral": (
            "The branch is fine but the opening hours are limited.",
            "Branch visit was okay, I had to come back with more documents.",
        ),
        "positive": (
            "The advisor at the branch knew exactly what I needed.",
            "Pleasant visit to the branch, good advice on my savings.",
        ),
    },
    "interest_rates": {
        "negative": (
            "The interest on my savings is ridiculously low.",
            "Other banks pay much more interest on savings.",
            "My loan rate is higher than what friends pay elsewhere.",
        ),
        "neutral": (
            "The savings rate is average.",
            "Interest rates are in line with the market.",
        ),
        "positive": (
            "Good savings rate compared to other banks.",
            "Happy with the fixed mortgage rate I got.",
        ),
    },
    "card": {
        "negative": (
            "My card was blocked abroad without warning.",
            "It took two weeks to get a replacement card.",
            "Contactless payments fail far too often with my card.",
        ),
        "neutral": (
            "The card works fine, the contactless limit could be higher.",
            "Card is okay, the design could be nicer.",
        ),
        "positive": (
            "Card payments are smooth everywhere, also abroad.",
            "Blocking and unblocking my card in the app is easy.",
        ),
    },
    "onboarding": {
        "negative": (
            "Opening the account took far too long, I had to upload my ID three times.",
            "The identity check failed twice during account opening.",
        ),
        "neutral": (
            "Account opening was okay, a few steps were unclear.",
            "Getting started took a few days, acceptable.",
        ),
        "positive": (
            "Opened my account in ten minutes, very smooth.",
            "Easy account opening, I had my card within a few days.",
        ),
    },
    "loans": {
        "negative": (
            "The loan application took weeks and the rate was disappointing.",
            "Too much paperwork for a small personal loan.",
        ),
        "neutral": (
            "The loan process was acceptable.",
            "Mortgage advice was okay but expensive.",
        ),
        "positive": (
            "My mortgage advisor was clear and honest.",
            "The personal loan was arranged within a day.",
        ),
    },
}

INCIDENT_THEME = "mobile_app_login"
INCIDENT_KEYWORDS: tuple[str, ...] = ("log in", "login", "outage", "crash", "app is down", "app was down")
# Comments written during the incident (all negative): login failures and outages.
INCIDENT_COMMENTS: tuple[str, ...] = (
    "Could not log in to the app for days, very frustrating.",
    "The app was down again and my payment failed.",
    "Login failures all week, the app shows an error every time.",
    "Outage after outage, I could not reach my money through the app.",
    "The app crashes at login and the helpdesk had no answer.",
    "Third time this month the app is down, I cannot log in.",
)

SUPPORT_TOPICS: tuple[str, ...] = (
    "card_blocked",
    "app_login",
    "fees",
    "payment_dispute",
    "address_change",
    "loan_inquiry",
    "mortgage_inquiry",
    "fraud_report",
    "statement_request",
    "complaint",
    "account_closure",
    "investment_question",
)

TRANSCRIPTS: dict[str, tuple[str, ...]] = {
    "card_blocked": (
        "Hi, my card was blocked and I cannot pay in shops.",
        "My debit card stopped working this morning, can you help?",
        "I entered the wrong PIN three times, please unblock my card.",
    ),
    "app_login": (
        "I cannot log in to the app, it keeps showing an error.",
        "The app says my login code is invalid.",
        "Hello, the app crashes when I try to log in.",
    ),
    "fees": (
        "Why was I charged this fee on my account?",
        "I want to understand the new monthly fee.",
        "There is a fee on my statement that I do not recognise.",
    ),
    "payment_dispute": (
        "A merchant charged me twice, I want my money back.",
        "I never received the goods I paid for, can you reverse the payment?",
    ),
    "address_change": (
        "I moved and need to change my address.",
        "Please update my address, I moved last month.",
    ),
    "loan_inquiry": (
        "What would a personal loan of 10,000 euro cost me?",
        "Can I repay my loan early without a penalty?",
    ),
    "mortgage_inquiry": (
        "I would like to discuss refinancing my mortgage.",
        "When does the fixed rate on my mortgage end?",
    ),
    "fraud_report": (
        "There are payments on my card that I did not make!",
        "Someone used my card abroad, please block it immediately.",
    ),
    "statement_request": (
        "Could you send me my annual statement?",
        "I need an overview of my transactions for my tax return.",
    ),
    "complaint": (
        "I am very unhappy with how my complaint was handled.",
        "This is the third time I contact you about the same problem.",
        "Your fees keep going up and the service keeps getting worse.",
    ),
    "account_closure": (
        "I would like to close all my accounts.",
        "Please tell me how I can close my account and move my money.",
    ),
    "investment_question": (
        "How is my investment fund performing this year?",
        "Can I change the risk profile of my investments?",
    ),
}

INCIDENT_TRANSCRIPTS: tuple[str, ...] = (
    "The app has been down all day, I cannot log in.",
    "Login keeps failing with an error since this morning.",
    "Is there an outage? The app crashes every time I open it.",
)

# Personal data appended to a comment or transcript: (prefix, field, middle, field, suffix).
# Fields are customers columns: phone, email, full_name.
PII_SNIPPETS: tuple[tuple[str, str, str, str, str], ...] = (
    (" You can call me on ", "phone", "", "", "."),
    (" Please e-mail me at ", "email", "", "", "."),
    (" Regards, ", "full_name", "", "", "."),
    (" My name is ", "full_name", ", call me on ", "phone", "."),
)
