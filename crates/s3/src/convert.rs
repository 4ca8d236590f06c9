//! Time conversions between chrono and the SDK.

use aws_sdk_s3::primitives::DateTime as AwsTime;
use chrono::{DateTime, Utc};

/// Whole seconds, rounded up (a retain-until date must never come out earlier).
pub(crate) fn to_aws(t: DateTime<Utc>) -> AwsTime {
    let up = i64::from(t.timestamp_subsec_nanos() > 0);
    AwsTime::from_secs(t.timestamp() + up)
}

pub(crate) fn from_aws(t: &AwsTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}
