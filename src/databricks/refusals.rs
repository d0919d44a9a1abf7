//! Refusals of the workspace that need words of their own: a reactivation answered 500 (a user
//! deactivated in the Databricks account, which only an account admin can undo). 401 and 403 are
//! explained by the credential (`bearer.rs`).

use super::ScimError;
use crate::http::ApiError;

/// What the Databricks knowledge base shows a workspace answering (HTTP 500) to the reactivation of a
/// user deactivated in the account ("Reactivate a user that has been disabled with AAD at the Account
/// and Workspace level"): `{"schemas":[Error],"detail":"class java.lang.String cannot be cast to class
/// java.lang.Boolean (...)","status":"500"}`.
const ACCOUNT_DEACTIVATED_DETAIL: &str = "cannot be cast to class java.lang.Boolean";

/// A failed reactivation of a user, told apart: a 500 is what an identity-federated workspace answers
/// when the user is deactivated in the Databricks account, which only an account admin can undo. The
/// knowledge base shows one answer body and also says the answer may be empty or a stack trace, so any
/// 500 counts, and `documented` says whether the body was the one shown. The call is not retried either
/// way (`http.rs` does not retry 500), and the next run tries once more.
pub(super) fn account_deactivated(user_name: &str, source: ApiError) -> ScimError {
    match &source {
        ApiError::Status {
            status: 500,
            message,
            ..
        } => ScimError::AccountDeactivated {
            user_name: user_name.to_owned(),
            documented: message.contains(ACCOUNT_DEACTIVATED_DETAIL),
            source,
        },
        _ => ScimError::Api(source),
    }
}

/// What an operator reads for [`ScimError::AccountDeactivated`]: what happened, why, and who must do
/// what where.
pub(super) fn account_deactivated_words(
    user_name: &str,
    documented: bool,
    source: &ApiError,
) -> String {
    let why = if documented {
        "the answer Databricks gives for a user deactivated in the Databricks account"
    } else {
        "a 500 to a reactivation is how Databricks answers for a user deactivated in the Databricks account \
         (this answer is not the documented one, so it may also be a fault of the workspace)"
    };
    format!(
        "{source}: {why}. The workspace cannot reactivate such a user: an account admin must reactivate \
         {user_name} in the Databricks account first (account console, User management, or the account SCIM \
         API), then the next run reactivates the user in this workspace"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, message: &str) -> ApiError {
        ApiError::Status {
            operation: "reactivating user ana@contoso.com".to_owned(),
            status,
            code: None,
            message: message.to_owned(),
            request_id: None,
            attempts: 1,
        }
    }

    /// The detail of the knowledge base's answer, as the workspace sends it.
    const KB_DETAIL: &str = "class java.lang.String cannot be cast to class java.lang.Boolean \
        (java.lang.String and java.lang.Boolean are in module java.base of loader 'bootstrap')";

    #[test]
    fn a_reactivation_answered_500_says_an_account_admin_must_reactivate_the_user_first() {
        let error = account_deactivated("ana@contoso.com", answered(500, KB_DETAIL));
        let ScimError::AccountDeactivated { documented, .. } = &error else {
            panic!("not told apart: {error}");
        };
        assert!(documented);
        let words = error.to_string();
        crate::testing::assert_says(
            &words,
            &[
                "reactivating user ana@contoso.com: HTTP 500",
                "deactivated in the Databricks account",
                "an account admin must reactivate ana@contoso.com in the Databricks account first",
                "account console",
                "the next run reactivates the user in this workspace",
            ],
        );
        assert!(!words.contains("may also be a fault"), "{words}");
    }

    #[test]
    fn another_500_counts_too_but_says_it_is_not_the_documented_answer() {
        // The knowledge base: "you receive an empty response or stack trace".
        let error = account_deactivated("ana@contoso.com", answered(500, ""));
        assert!(matches!(
            error,
            ScimError::AccountDeactivated {
                documented: false,
                ..
            }
        ));
        assert!(
            error
                .to_string()
                .contains("may also be a fault of the workspace")
        );
        assert_eq!(error.status(), Some(500));
    }

    #[test]
    fn other_refusals_of_a_reactivation_are_left_as_they_are() {
        for status in [400, 403, 404, 503] {
            let error = account_deactivated("ana@contoso.com", answered(status, KB_DETAIL));
            assert!(matches!(error, ScimError::Api(_)), "{status}: {error}");
        }
    }
}
