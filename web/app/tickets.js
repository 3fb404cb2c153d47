// The tickets view (to be built): list and filter tickets, open one, change stage, priority and
// owner, jump to the source conversation.

export function mount() {}
export function enter() {}
export function leave() {}
export function show() {}
