//! Graph `contact` JSON → vCard 3.0 (RFC 2426), the version Outlook, Apple and Google import.

use serde_json::Value;

use super::text::{escape, push_line};

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn strings<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn address(out: &mut String, v: &Value, key: &str, kind: &str) {
    let Some(a) = v.get(key).filter(|a| a.is_object()) else {
        return;
    };
    let parts =
        ["street", "city", "state", "postalCode", "countryOrRegion"].map(|k| escape(s(a, k)));
    if parts.iter().all(String::is_empty) {
        return;
    }
    push_line(out, &format!("ADR;TYPE={kind}:;;{}", parts.join(";")));
}

/// One vCard for a contact.
pub fn vcard(c: &Value) -> String {
    let mut out = String::new();
    push_line(&mut out, "BEGIN:VCARD");
    push_line(&mut out, "VERSION:3.0");
    let emails: Vec<&str> = c
        .get("emailAddresses")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| e.get("address").and_then(Value::as_str))
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let fn_ = [s(c, "displayName"), s(c, "fileAs")]
        .into_iter()
        .find(|x| !x.is_empty())
        .map(str::to_string)
        .or_else(|| emails.first().map(|e| e.to_string()))
        .unwrap_or_else(|| "Unnamed".to_string());
    push_line(&mut out, &format!("FN:{}", escape(&fn_)));
    let n = ["surname", "givenName", "middleName", "title", "generation"].map(|k| escape(s(c, k)));
    push_line(&mut out, &format!("N:{}", n.join(";")));
    if !s(c, "nickName").is_empty() {
        push_line(&mut out, &format!("NICKNAME:{}", escape(s(c, "nickName"))));
    }
    if !s(c, "companyName").is_empty() || !s(c, "department").is_empty() {
        push_line(
            &mut out,
            &format!(
                "ORG:{};{}",
                escape(s(c, "companyName")),
                escape(s(c, "department"))
            ),
        );
    }
    if !s(c, "jobTitle").is_empty() {
        push_line(&mut out, &format!("TITLE:{}", escape(s(c, "jobTitle"))));
    }
    for e in &emails {
        push_line(&mut out, &format!("EMAIL;TYPE=INTERNET:{}", escape(e)));
    }
    for p in strings(c, "businessPhones") {
        push_line(&mut out, &format!("TEL;TYPE=WORK,VOICE:{}", escape(p)));
    }
    for p in strings(c, "homePhones") {
        push_line(&mut out, &format!("TEL;TYPE=HOME,VOICE:{}", escape(p)));
    }
    if !s(c, "mobilePhone").is_empty() {
        push_line(
            &mut out,
            &format!("TEL;TYPE=CELL:{}", escape(s(c, "mobilePhone"))),
        );
    }
    address(&mut out, c, "businessAddress", "WORK");
    address(&mut out, c, "homeAddress", "HOME");
    address(&mut out, c, "otherAddress", "POSTAL");
    if let Some(day) = c
        .get("birthday")
        .and_then(Value::as_str)
        .and_then(|b| b.get(..10))
    {
        push_line(&mut out, &format!("BDAY:{day}"));
    }
    if !s(c, "businessHomePage").is_empty() {
        push_line(
            &mut out,
            &format!("URL:{}", escape(s(c, "businessHomePage"))),
        );
    }
    if !s(c, "personalNotes").is_empty() {
        push_line(&mut out, &format!("NOTE:{}", escape(s(c, "personalNotes"))));
    }
    let cats: Vec<String> = strings(c, "categories").into_iter().map(escape).collect();
    if !cats.is_empty() {
        push_line(&mut out, &format!("CATEGORIES:{}", cats.join(",")));
    }
    if !s(c, "id").is_empty() {
        push_line(&mut out, &format!("UID:{}", escape(s(c, "id"))));
    }
    push_line(&mut out, "END:VCARD");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contact_fields() {
        let c = json!({"id":"C1","displayName":"Zoë Doe, PhD","givenName":"Zoë","surname":"Doe",
            "emailAddresses":[{"name":"Zoë","address":"zoe@x.org"},{"address":"z@y.org"}],
            "businessPhones":["+1 555 0100"],"mobilePhone":"+1 555 0199","companyName":"Contoso; Ltd",
            "businessAddress":{"street":"1 Main St","city":"Springfield","postalCode":"12345"},
            "birthday":"1990-04-05T00:00:00Z","categories":["VIP"],"personalNotes":"line1\nline2"});
        let v = vcard(&c);
        assert!(v.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"));
        assert!(v.contains("FN:Zoë Doe\\, PhD\r\n"));
        assert!(v.contains("N:Doe;Zoë;;;\r\n"));
        assert!(v.contains("EMAIL;TYPE=INTERNET:zoe@x.org\r\nEMAIL;TYPE=INTERNET:z@y.org\r\n"));
        assert!(v.contains("TEL;TYPE=CELL:+1 555 0199"));
        assert!(v.contains("ORG:Contoso\\; Ltd;"));
        assert!(v.contains("ADR;TYPE=WORK:;;1 Main St;Springfield;;12345;"));
        assert!(v.contains("BDAY:1990-04-05"));
        assert!(v.contains("NOTE:line1\\nline2"));
        assert!(v.ends_with("END:VCARD\r\n"));
        assert!(vcard(&json!({})).contains("FN:Unnamed"));
    }
}
