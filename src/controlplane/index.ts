/**
 * A real control plane for tests and the local demo: etcd and kube-apiserver on loopback, CRDs
 * installed with kubectl.
 *
 * @module
 */
export { findAssets } from './assets.ts';
export { type ControlPlane, type ControlPlaneOptions, startControlPlane } from './controlplane.ts';
export { installCRDs } from './crds.ts';
