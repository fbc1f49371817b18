//! The route table's tests: every endpoint routes back to itself, wrong
//! methods and unknown paths are told apart, and the router never panics.

use super::*;
use proptest::prelude::*;

fn all() -> Vec<Endpoint> {
    let ids: &[&str] = &["F971964745A5CD0C001BBE4E58196BFD", "42"];
    TABLE.iter().map(|r| (r.make)(ids)).collect()
}

#[test]
fn every_endpoint_routes_back_to_itself() {
    let all = all();
    assert_eq!(all.len(), TABLE.len());
    for ep in all {
        let (root, method, path) = (ep.root(), ep.method(), ep.path());
        assert_eq!(Endpoint::route(root, method, &path), Ok(ep.clone()), "{ep}");
        assert_eq!(
            Endpoint::route(root, method, &format!("{path}/")),
            Ok(ep.clone())
        );
        let prefix = match root {
            Root::Upload => UPLOAD_PREFIX,
            Root::Api => API_PREFIX,
            Root::OAuth => OAUTH_PREFIX,
        };
        let whole = format!("{prefix}{path}");
        assert_eq!(Endpoint::route_path(method, &whole), Some(Ok(ep.clone())));
    }
    assert_eq!(
        Endpoint::CreateSession.url("https://upload.box.com/api/2.0/"),
        "https://upload.box.com/api/2.0/files/upload_sessions"
    );
    assert_eq!(
        Endpoint::route_path(Method::Get, "/api/oauth2/authorize"),
        Some(Ok(Endpoint::Authorize))
    );
    assert_eq!(Endpoint::route_path(Method::Get, "/2.0x/users/me"), None);
    assert_eq!(Endpoint::route_path(Method::Get, "/favicon.ico"), None);
}

#[test]
fn wrong_method_and_unknown_paths() {
    let r = |root, m, p| Endpoint::route(root, m, p);
    assert_eq!(
        r(Root::Upload, Method::Post, "/files/upload_sessions/X"),
        Err(RouteError::MethodNotAllowed {
            allowed: vec![Method::Get, Method::Put, Method::Delete]
        })
    );
    assert_eq!(
        r(Root::Upload, Method::Get, "/files/upload_sessions"),
        Err(RouteError::MethodNotAllowed {
            allowed: vec![Method::Post]
        })
    );
    assert_eq!(
        r(Root::Api, Method::Options, "/files/7"),
        Err(RouteError::MethodNotAllowed {
            allowed: vec![Method::Get, Method::Put, Method::Delete, Method::Post]
        })
    );
    // `trash` is never an id: the trash's listing is not folder "trash"'s items.
    assert_eq!(
        r(Root::Api, Method::Get, "/folders/trash/items"),
        Ok(Endpoint::ListTrash)
    );
    assert_eq!(
        r(Root::Api, Method::Get, "/folders/trash"),
        Err(RouteError::NotFound)
    );
    // `content` and `upload_sessions` are never ids.
    assert_eq!(
        r(Root::Api, Method::Get, "/files/content"),
        Err(RouteError::MethodNotAllowed {
            allowed: vec![Method::Options]
        })
    );
    for p in [
        "/",
        "",
        "/files",
        "/files/upload_sessions//parts",
        "/files/x/y/z/w",
        "/folders/0",
    ] {
        assert_eq!(
            r(Root::Upload, Method::Get, p),
            Err(RouteError::NotFound),
            "{p}"
        );
    }
    assert_eq!(
        r(Root::Api, Method::Get, "/folders//items"),
        Err(RouteError::NotFound)
    );
    assert_eq!(Method::parse("PATCH"), None);
}

proptest! {
    #[test]
    fn router_never_panics(path in "[/a-z_0-9A-Z%.]{0,60}") {
        for m in [Method::Get, Method::Post, Method::Put, Method::Delete, Method::Options] {
            for root in [Root::Upload, Root::Api, Root::OAuth] {
                let _ = Endpoint::route(root, m, &path);
            }
            let _ = Endpoint::route_path(m, &path);
        }
    }

    #[test]
    fn ids_are_encoded(id in "[A-Za-z0-9 /?#%]{1,20}") {
        let ep = Endpoint::Commit { session_id: id };
        let p = ep.path();
        prop_assert!(!p.contains(' ') && !p.contains('?') && !p.contains('#'));
        prop_assert_eq!(p.matches('/').count(), 4);
    }
}
