//! Word lists for generated people, subjects and bodies.

pub(crate) const GIVEN: &[&str] = &[
    "Adele",
    "Alex",
    "Bianca",
    "Carlos",
    "Chloé",
    "Diego",
    "Elena",
    "François",
    "Grady",
    "Hana",
    "Isaiah",
    "Jürgen",
    "Kenji",
    "Lidia",
    "Megan",
    "Nestor",
    "Olga",
    "Patti",
    "Quentin",
    "Renée",
    "Søren",
    "Tomás",
    "Uma",
    "Vivek",
    "Wanda",
    "Xiu",
    "Yusuf",
    "Zoë",
    "Lee",
    "Miriam",
];

pub(crate) const SURNAMES: &[&str] = &[
    "Vance",
    "Wilber",
    "Nørgaard",
    "Müller",
    "García",
    "Okafor",
    "Lindqvist",
    "Tanaka",
    "Brown",
    "Dubois",
    "Kowalski",
    "Rossi",
    "Novak",
    "Haddad",
    "Ivanova",
    "Patel",
    "O'Neil",
    "Smith",
    "Jensen",
    "Costa",
    "Fischer",
    "Silva",
    "Nakamura",
    "Kim",
    "Hughes",
];

pub(crate) const JOBS: &[&str] = &[
    "Accountant",
    "Marketing Manager",
    "Developer",
    "Sales Representative",
    "HR Generalist",
    "Product Owner",
    "Designer",
    "Legal Counsel",
    "Support Engineer",
    "CFO",
];

pub(crate) const DEPARTMENTS: &[&str] = &[
    "Finance",
    "Marketing",
    "Engineering",
    "Sales",
    "HR",
    "Legal",
];

pub(crate) const SHARED: &[&str] = &[
    "info",
    "support",
    "billing",
    "reception",
    "hr-requests",
    "press",
];

pub(crate) const SUBJECT_TOPICS: &[&str] = &[
    "Quarterly budget review",
    "Project Falcon status",
    "Invoice 4471 overdue",
    "Team offsite planning",
    "Contract renewal – Northwind",
    "Café opening hours",
    "Résumé for the open position",
    "Security patch rollout",
    "Board meeting minutes",
    "Customer feedback summary",
    "Travel reimbursement",
    "Q3 forecast numbers",
    "Übergabe der Projektunterlagen",
    "Holiday schedule",
    "New hire onboarding",
    "Server maintenance window",
];

pub(crate) const SENTENCES: &[&str] = &[
    "Please find the latest figures attached.",
    "Can we move the meeting to Thursday afternoon?",
    "I reviewed the draft and left a few comments.",
    "The numbers for last quarter look better than expected.",
    "Let me know if anything is unclear.",
    "We still need sign-off from legal before Friday.",
    "Thanks for the quick turnaround on this.",
    "The vendor confirmed delivery for next week.",
    "I'll be out of office on Monday, Renée will cover for me.",
    "Our café budget is €250 per month — is that still correct?",
    "Der Bericht ist fertig; bitte prüfen Sie die Zahlen.",
    "Could you forward this to the rest of the team?",
    "The customer asked for a revised quote by the end of the month.",
    "Attached is the signed contract for your records.",
    "We should schedule a follow-up call with the auditors.",
];

pub(crate) const EXTERNAL_DOMAINS: &[&str] = &[
    "fabrikam.com",
    "northwind.example",
    "adatum.org",
    "tailspin.example",
];

pub(crate) const CATEGORIES: &[&str] = &[
    "Red category",
    "Blue category",
    "Green category",
    "Project Falcon",
    "Follow up",
];

pub(crate) const FOLDER_NAMES: &[&str] = &[
    "Projects",
    "Clients",
    "Receipts",
    "Newsletters",
    "2024",
    "2025",
    "Falcon",
    "Northwind",
    "Travel",
    "Personal",
    "Reports",
    "Ärzte & Versicherung",
];

pub(crate) const LOCATIONS: &[&str] = &[
    "Conference Room 1",
    "Teams meeting",
    "Café Central",
    "Building 4, Room 210",
    "Online",
];

/// ASCII-fold a name for use in an e-mail local part.
pub(crate) fn ascii_fold(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let r = match c {
            'é' | 'è' | 'ê' | 'ë' => "e",
            'á' | 'à' | 'â' | 'ä' => "a",
            'ó' | 'ò' | 'ô' | 'ö' | 'ø' => "o",
            'ú' | 'ù' | 'û' | 'ü' => "u",
            'í' | 'ì' | 'î' | 'ï' => "i",
            'ç' => "c",
            'ñ' => "n",
            'ß' => "ss",
            'Ø' => "O",
            'Ü' => "U",
            'Ä' => "A",
            'Ö' => "O",
            '\'' | ' ' => "",
            c if c.is_ascii_alphanumeric() || c == '-' || c == '.' => {
                out.push(c.to_ascii_lowercase());
                continue;
            }
            _ => "",
        };
        out.push_str(r);
    }
    out
}
