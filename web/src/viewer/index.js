/**
 * The medcrypt image viewer: one small interface over Cornerstone3D (rendering, tools) and its
 * DICOM image loader (parsing, WebAssembly codecs in a web worker). The viewer is handed the
 * decrypted BYTES of a DICOM Part 10 file, a PNG or a JPEG, never a URL: DICOM goes to the loader
 * through its in-memory `dicomfile:` path (a Blob registered with its fileManager), PNG and JPEG
 * to an <img> from a blob: URL. Decoded pixels stay in memory, and destroy() (or the next show())
 * drops them from the loader's caches and revokes the blob: URL.
 *
 * Ownership: the viewer keeps a reference to the bytes it is shown until the next show() or
 * destroy(); the caller keeps ownership of the element, which the viewer fills with its own
 * children and empties again on destroy().
 *
 * Input: left drag window/level (DICOM), right drag or wheel zoom, middle drag or shift + left
 * drag pan; with the element focused, arrow keys (or PageUp/PageDown, Home/End) change frames,
 * + and - zoom, 0 resets.
 */
import {
  Enums as CoreEnums,
  RenderingEngine,
  cache,
  getRenderingEngine,
  init as coreInit,
  utilities as coreUtilities,
} from '@cornerstonejs/core';
import {
  Enums as ToolEnums,
  PanTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  init as toolsInit,
  utilities as toolUtilities,
} from '@cornerstonejs/tools';
import { init as loaderInit, wadouri } from '@cornerstonejs/dicom-image-loader';
import { log as dcmjsLog } from 'dcmjs';

import { McError, Kind } from '../container/errors.js';
import { dicomAttributes, numberOfFrames, parseHeader, TRANSFER_SYNTAXES } from './attributes.js';

export { dicomAttributes, TRANSFER_SYNTAXES };

const { MouseBindings, KeyboardBindings } = ToolEnums;
const ZOOM_STEP = 1.25;
const PHOTO_TYPES = { png: 'image/png', jpeg: 'image/jpeg' };

let libraries; // the one-time initialisation of Cornerstone, shared by every viewer on the page
let viewerCount = 0;

/** initLibraries(): initialise core, loader (one decode worker per two cores) and tools once. */
function initLibraries() {
  libraries ??= (async () => {
    coreInit();
    const cores = globalThis.navigator?.hardwareConcurrency || 2;
    loaderInit({ maxWebWorkers: Math.max(1, Math.min(4, Math.floor(cores / 2))) });
    toolsInit();
    for (const tool of [WindowLevelTool, ZoomTool, PanTool]) addTool(tool);
    // dcmjs (the loader's metadata parser) logs ordinary files as errors, e.g. the Pixel Data
    // VR of an Implicit VR file ("Invalid vr type ox - using OW"); those notes are for
    // validators, not for a person looking at an image.
    dcmjsLog.getLogger('validation.dcmjs').setLevel('silent');
  })();
  return libraries;
}

function toUint8(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return undefined;
}

/** nextRender(element): resolves on the viewport's next IMAGE_RENDERED event. */
function nextRender(element) {
  return new Promise((resolve) => {
    element.addEventListener(CoreEnums.Events.IMAGE_RENDERED, () => resolve(), { once: true });
  });
}

/**
 * createViewer(element, {onStatus}): a viewer that draws into `element` (a block element the
 * caller sizes; the viewer adds its children and makes it focusable). `onStatus({state, text,
 * frame, frameCount})` is called on state changes: state is 'loading', 'shown', 'frame' or
 * 'error'; frame is 0-based. Returns the viewer object; call destroy() when done with it.
 */
export function createViewer(element, { onStatus = () => {} } = {}) {
  if (!(element instanceof HTMLElement)) throw new McError(Kind.MISUSE, 'createViewer: element must be an HTMLElement');
  const id = `medcrypt-viewer-${++viewerCount}`;
  const ids = { engine: `${id}-engine`, viewport: `${id}-viewport`, tools: `${id}-tools` };

  const stage = document.createElement('div'); //   Cornerstone's element
  stage.className = 'medcrypt-viewer-stage';
  const photo = document.createElement('img'); //   PNG and JPEG
  photo.className = 'medcrypt-viewer-photo';
  photo.alt = '';
  photo.draggable = false;
  photo.hidden = true;
  stage.hidden = true;
  for (const child of [stage, photo]) {
    child.style.width = '100%';
    child.style.height = '100%';
  }
  photo.style.objectFit = 'contain';
  photo.style.transformOrigin = 'center center';
  element.append(stage, photo);
  if (!element.hasAttribute('tabindex')) element.tabIndex = 0;
  element.setAttribute('role', 'img');
  element.setAttribute('aria-roledescription', 'image viewer');
  element.style.overflow = 'hidden';

  let kind = null; //          'dicom' | 'png' | 'jpeg' while something is shown
  let imageIds = [];
  let fileIndex = -1; //      our slot in the loader's fileManager
  let photoUrl = null;
  let photoView = { zoom: 1, x: 0, y: 0 };
  let engine = null;
  let toolGroup = null;
  let destroyed = false;
  let generation = 0; //      bumps on every show(), so a superseded load does not report

  const status = (state, text, extra = {}) => {
    try {
      onStatus({ state, text, frame: viewer.frame, frameCount: viewer.frameCount, ...extra });
    } catch {
      // a failing status callback must not break the viewer
    }
  };

  const viewport = () => engine?.getViewport(ids.viewport);

  /** draw(): renders the viewport; resolves once the frame is on the canvas. */
  function draw() {
    const rendered = nextRender(stage);
    viewport().render();
    return rendered;
  }

  function ensureEngine() {
    if (engine) return;
    engine = new RenderingEngine(ids.engine);
    engine.enableElement({
      viewportId: ids.viewport,
      type: CoreEnums.ViewportType.STACK,
      element: stage,
      defaultOptions: { background: [0, 0, 0] },
    });
    toolGroup = ToolGroupManager.createToolGroup(ids.tools);
    for (const tool of [WindowLevelTool, ZoomTool, PanTool]) toolGroup.addTool(tool.toolName);
    toolGroup.addViewport(ids.viewport, ids.engine);
    toolGroup.setToolActive(WindowLevelTool.toolName, { bindings: [{ mouseButton: MouseBindings.Primary }] });
    toolGroup.setToolActive(PanTool.toolName, {
      bindings: [
        { mouseButton: MouseBindings.Auxiliary },
        { mouseButton: MouseBindings.Primary, modifierKey: KeyboardBindings.Shift },
      ],
    });
    toolGroup.setToolActive(ZoomTool.toolName, {
      bindings: [{ mouseButton: MouseBindings.Secondary }, { mouseButton: MouseBindings.Wheel }],
    });
  }

  /** Drops what the last show() loaded: images, parsed data set, file slot, blob: URL. */
  function clear() {
    if (imageIds.length) {
      try {
        toolUtilities.stackPrefetch.disable(stage);
      } catch {
        // prefetch was not enabled
      }
      for (const imageId of imageIds) {
        try {
          cache.removeImageLoadObject(imageId, { force: true });
        } catch {
          // not in the cache (never loaded)
        }
      }
      try {
        wadouri.dataSetCacheManager.unload(String(fileIndex));
      } catch {
        // the legacy data set cache was not used
      }
    }
    if (fileIndex >= 0) wadouri.fileManager.remove(fileIndex);
    fileIndex = -1;
    imageIds = [];
    if (photoUrl) URL.revokeObjectURL(photoUrl);
    photoUrl = null;
    photo.removeAttribute('src');
    photo.hidden = true;
    stage.hidden = true;
    kind = null;
  }

  async function showDicom(bytes, myGeneration) {
    const u8 = toUint8(bytes) ?? new Uint8Array(await bytes.arrayBuffer());
    const frames = numberOfFrames(parseHeader(u8));
    await initLibraries();
    if (myGeneration !== generation) return;
    ensureEngine();
    const blob = bytes instanceof Blob ? bytes : new Blob([u8], { type: 'application/dicom' });
    const base = wadouri.fileManager.add(blob);
    fileIndex = Number(base.slice(base.indexOf(':') + 1));
    imageIds = frames > 1 ? Array.from({ length: frames }, (_, i) => `${base}?frame=${i + 1}`) : [base];
    kind = 'dicom';
    stage.hidden = false;
    engine.resize(true, false);
    await viewport().setStack(imageIds, 0);
    await draw();
    if (frames > 1) toolUtilities.stackPrefetch.enable(stage);
  }

  async function showPhoto(bytes, type) {
    const blob = bytes instanceof Blob ? bytes : new Blob([toUint8(bytes)], { type });
    photoUrl = URL.createObjectURL(blob);
    photo.src = photoUrl;
    photo.hidden = false;
    photoView = { zoom: 1, x: 0, y: 0 };
    applyPhotoView();
    try {
      await photo.decode();
    } catch (cause) {
      throw new McError(Kind.UNSUPPORTED, `the ${type} image does not decode`, { cause });
    }
  }

  function applyPhotoView() {
    photo.style.transform = `translate(${photoView.x}px, ${photoView.y}px) scale(${photoView.zoom})`;
  }

  async function zoomBy(factor) {
    if (kind === 'dicom') {
      const vp = viewport();
      vp.setZoom(vp.getZoom() * factor);
      await draw();
    } else if (kind) {
      photoView.zoom = Math.min(32, Math.max(1 / 32, photoView.zoom * factor));
      applyPhotoView();
    }
  }

  // Photo zoom and pan (DICOM has Cornerstone's tools for these).
  let drag = null;
  const onPhotoPointerDown = (event) => {
    if (kind === 'dicom' || !kind) return;
    const pan = event.button === 1 || (event.button === 0 && event.shiftKey);
    const zoom = event.button === 2;
    if (!pan && !zoom) return;
    event.preventDefault();
    drag = { pan, x: event.clientX, y: event.clientY, pointer: event.pointerId };
    element.setPointerCapture?.(event.pointerId);
  };
  const onPhotoPointerMove = (event) => {
    if (!drag || event.pointerId !== drag.pointer) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    drag.x = event.clientX;
    drag.y = event.clientY;
    if (drag.pan) {
      photoView.x += dx;
      photoView.y += dy;
      applyPhotoView();
    } else {
      zoomBy(Math.exp(-dy / 200));
    }
  };
  const onPhotoPointerUp = () => {
    drag = null;
  };
  const onWheel = (event) => {
    if (kind === 'dicom' || !kind) return; // Cornerstone's ZoomTool has the wheel
    event.preventDefault();
    zoomBy(event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP);
  };
  const onContextMenu = (event) => event.preventDefault(); // right drag zooms
  const onKeyDown = (event) => {
    if (!kind || event.altKey || event.ctrlKey || event.metaKey) return;
    const actions = {
      ArrowRight: () => viewer.next(),
      ArrowDown: () => viewer.next(),
      PageDown: () => viewer.next(),
      ArrowLeft: () => viewer.previous(),
      ArrowUp: () => viewer.previous(),
      PageUp: () => viewer.previous(),
      Home: () => viewer.setFrame(0),
      End: () => viewer.setFrame(viewer.frameCount - 1),
      '+': () => zoomBy(ZOOM_STEP),
      '=': () => zoomBy(ZOOM_STEP),
      '-': () => zoomBy(1 / ZOOM_STEP),
      0: () => viewer.reset(),
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    Promise.resolve(action()).catch((error) => status('error', error.message));
  };
  element.addEventListener('pointerdown', onPhotoPointerDown);
  element.addEventListener('pointermove', onPhotoPointerMove);
  element.addEventListener('pointerup', onPhotoPointerUp);
  element.addEventListener('pointercancel', onPhotoPointerUp);
  element.addEventListener('wheel', onWheel, { passive: false });
  element.addEventListener('contextmenu', onContextMenu);
  element.addEventListener('keydown', onKeyDown);

  const viewer = {
    /**
     * show({bytes, kind}): shows an image, replacing what was shown. `bytes` is a Uint8Array,
     * ArrayBuffer or Blob of the decrypted file; `kind` is 'dicom', 'png' or 'jpeg'. Resolves
     * once the first frame is drawn. Rejects with McError kind 'unsupported' for a file that
     * does not parse or decode, 'misuse' for bad arguments or after destroy().
     */
    async show({ bytes, kind: newKind } = {}) {
      if (destroyed) throw new McError(Kind.MISUSE, 'show: the viewer was destroyed');
      if (newKind !== 'dicom' && !PHOTO_TYPES[newKind]) {
        throw new McError(Kind.MISUSE, "show: kind must be 'dicom', 'png' or 'jpeg'");
      }
      if (!toUint8(bytes) && !(bytes instanceof Blob)) {
        throw new McError(Kind.MISUSE, 'show: bytes must be a Uint8Array, ArrayBuffer or Blob');
      }
      const myGeneration = ++generation;
      clear();
      status('loading', 'Loading image…');
      try {
        if (newKind === 'dicom') {
          await showDicom(bytes, myGeneration);
        } else {
          kind = newKind;
          await showPhoto(bytes, PHOTO_TYPES[newKind]);
        }
      } catch (cause) {
        if (myGeneration === generation) {
          clear();
          const error = cause instanceof McError
            ? cause
            : new McError(Kind.UNSUPPORTED, 'the image could not be decoded', { cause });
          status('error', error.message);
          throw error;
        }
        return;
      }
      if (myGeneration === generation) status('shown', 'Image shown');
    },

    /** The number of frames of what is shown (1 for PNG/JPEG, 0 when nothing is shown). */
    get frameCount() {
      return kind === 'dicom' ? imageIds.length : kind ? 1 : 0;
    },

    /** The 0-based frame shown. */
    get frame() {
      return kind === 'dicom' ? (viewport()?.getCurrentImageIdIndex() ?? 0) : 0;
    },

    /** The kind shown, or null. */
    get kind() {
      return kind;
    },

    /** setFrame(i): shows frame i (clamped to the frames there are); resolves once drawn. */
    async setFrame(index) {
      if (kind !== 'dicom' || !Number.isFinite(index)) return;
      const target = Math.max(0, Math.min(imageIds.length - 1, Math.trunc(index)));
      const vp = viewport();
      if (target === vp.getCurrentImageIdIndex()) return;
      await vp.setImageIdIndex(target);
      await draw();
      status('frame', `Frame ${target + 1} of ${imageIds.length}`);
    },

    /** next() / previous(): the neighbouring frame, if any. */
    next() {
      return viewer.setFrame(viewer.frame + 1);
    },
    previous() {
      return viewer.setFrame(viewer.frame - 1);
    },

    /**
     * setWindow(center, width): the VOI window in the modality's output units (after rescale),
     * as DICOM's Window Center/Width. DICOM only; ignored for PNG/JPEG. Resolves once drawn.
     */
    async setWindow(center, width) {
      if (kind !== 'dicom') return;
      if (!Number.isFinite(center) || !Number.isFinite(width) || width < 1) {
        throw new McError(Kind.MISUSE, 'setWindow: center and width must be numbers, width >= 1');
      }
      const { lower, upper } = coreUtilities.windowLevel.toLowHighRange(width, center);
      viewport().setProperties({ voiRange: { lower, upper } });
      await draw();
    },

    /** getWindow(): the current {center, width}, or null for PNG/JPEG. */
    getWindow() {
      if (kind !== 'dicom') return null;
      const { voiRange } = viewport().getProperties();
      if (!voiRange) return null;
      const { windowWidth, windowCenter } = coreUtilities.windowLevel.toWindowLevel(voiRange.lower, voiRange.upper);
      return { center: windowCenter, width: windowWidth };
    },

    /** zoomIn() / zoomOut(): one step of zoom around the centre; resolve once drawn. */
    zoomIn() {
      return zoomBy(ZOOM_STEP);
    },
    zoomOut() {
      return zoomBy(1 / ZOOM_STEP);
    },

    /** getZoom(): the zoom factor (1 = fitted). */
    getZoom() {
      if (kind === 'dicom') return viewport().getZoom();
      return kind ? photoView.zoom : 1;
    },

    /** reset(): fit, centre and the file's own window again (keeps the frame); resolves once drawn. */
    async reset() {
      if (kind === 'dicom') {
        const vp = viewport();
        vp.resetProperties();
        vp.resetCamera();
        await draw();
      } else if (kind) {
        photoView = { zoom: 1, x: 0, y: 0 };
        applyPhotoView();
      }
    },

    /**
     * destroy(): releases everything: the decoded images and parsed file, the blob: URL, the
     * rendering engine and tools, the listeners, and the children it added to the element.
     * Calling it twice is harmless.
     */
    destroy() {
      if (destroyed) return;
      destroyed = true;
      generation++;
      clear();
      element.removeEventListener('pointerdown', onPhotoPointerDown);
      element.removeEventListener('pointermove', onPhotoPointerMove);
      element.removeEventListener('pointerup', onPhotoPointerUp);
      element.removeEventListener('pointercancel', onPhotoPointerUp);
      element.removeEventListener('wheel', onWheel);
      element.removeEventListener('contextmenu', onContextMenu);
      element.removeEventListener('keydown', onKeyDown);
      if (toolGroup) ToolGroupManager.destroyToolGroup(ids.tools);
      if (engine && getRenderingEngine(ids.engine)) engine.destroy();
      engine = null;
      toolGroup = null;
      stage.remove();
      photo.remove();
    },
  };
  return viewer;
}
