// The contact sidebar of the open conversation (to be built): known properties, owner,
// associated tickets, previous conversations, create a contact from an unknown visitor, edit.

/// Shows the sidebar of `conversation` in `pane` (an <aside>), replacing what was there.
export function showContact(pane, conversation) {
  pane.dataset.conversationId = conversation.id;
}

/// Empties the sidebar (logout, no conversation open).
export function clearContact(pane) {
  pane.replaceChildren();
  delete pane.dataset.conversationId;
}
