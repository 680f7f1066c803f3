/**
 * The VNC part: an RFB server per device, VNC authentication, input
 * forwarded to the guest's VMM through QMP, and the noVNC web view.
 */
export {};
