//! Which message a notification is. Each has a WhatsApp template of the same name, which
//! the treasury registers with Meta in Malay (`ms`) with the body parameters listed here;
//! e-mails carry the subject and body the projection wrote.

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Template {
    /// A new complaint is acknowledged: number, title.
    AduanDiterima,
    /// A complaint is handed to a PIC: number, title, category, PTJ.
    AduanDitugaskan,
    /// Several complaints handed to one PIC within a few minutes, in one message: how many,
    /// their numbers.
    AduanDitugaskanBerkumpulan,
    /// The PIC replied, the complaint stays with them: number.
    MaklumBalasBaharu,
    /// The PIC asks the complainant for more: number.
    MohonMaklumBalas,
    /// The PIC asks the complainant to close: number.
    MohonTutupAduan,
    /// The complainant answered: number.
    PengaduMembalas,
    /// Referred to the implementor: number, title.
    AduanDirujuk,
    /// Escalated to the vendor's helpdesk: number, vendor.
    DalamTindakanVendor,
    /// Closed: number, title.
    AduanDitutup,
    /// Reopened by the complainant: number.
    AduanDibukaSemula,
    /// A PIC's open complaints, every working day at 08:00 (e-mail only): date, count.
    RingkasanHarian,
    /// Anything else, or a message from before templates were carried: subject.
    #[default]
    #[serde(other)]
    Notice,
}

impl Template {
    /// The template's name in WhatsApp Manager.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// How many body parameters the registered template takes.
    pub fn parameter_count(self) -> usize {
        use Template::*;
        match self {
            AduanDitugaskan => 4,
            AduanDiterima
            | AduanDirujuk
            | DalamTindakanVendor
            | AduanDitutup
            | RingkasanHarian
            | AduanDitugaskanBerkumpulan => 2,
            MaklumBalasBaharu | MohonMaklumBalas | MohonTutupAduan | PengaduMembalas | AduanDibukaSemula | Notice => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;

    #[test]
    fn every_template_has_one_name_each_way() {
        for template in Template::iter() {
            assert_eq!(template.name().parse::<Template>().unwrap(), template);
            assert_eq!(serde_json::to_value(template).unwrap(), template.name());
            assert!(template.parameter_count() >= 1);
        }
        assert_eq!(Template::AduanDitugaskan.name(), "aduan_ditugaskan");
        let unknown: Template = serde_json::from_str("\"a_template_from_the_future\"").unwrap();
        assert_eq!(unknown, Template::Notice);
    }
}
