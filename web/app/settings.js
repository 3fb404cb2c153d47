// The settings view for admins (to be built): agents, teams, inboxes, channels, chatflows.

export function mount() {}
export function enter() {}
export function leave() {}
export function show() {}
