//! Your own presence: available (with a show and a status message) or not.

use minidom::Element;

use crate::client::element;
use crate::{Client, ClientError};

impl Client {
    /// Tell contacts you are available. `show` is `away`, `chat`, `dnd` or
    /// `xa` (`None`: plainly available), `status` a free-text message. The
    /// first call also starts the delivery of messages sent to the bare
    /// JID and of contacts' presence.
    pub async fn set_presence(
        &mut self,
        show: Option<&str>,
        status: Option<&str>,
    ) -> Result<(), ClientError> {
        let mut presence = Element::bare("presence", whassap_xml::NS_CLIENT);
        for (name, value) in [("show", show), ("status", status)] {
            if let Some(value) = value {
                let mut child = Element::bare(name, whassap_xml::NS_CLIENT);
                child.append_text(value);
                presence.append_child(child);
            }
        }
        self.presence = Some(presence.clone());
        self.send(&presence).await
    }

    /// Tell contacts you are gone (the connection stays open).
    pub async fn set_unavailable(&mut self) -> Result<(), ClientError> {
        let presence = element(
            "presence",
            whassap_xml::NS_CLIENT,
            &[("type", "unavailable")],
        );
        self.presence = None;
        self.send(&presence).await
    }
}
