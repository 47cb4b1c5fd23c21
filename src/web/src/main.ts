/// <reference lib="dom" />
import { createRoot } from 'react-dom/client';
import { App } from './app.ts';
import { h } from './h.ts';
import './style.css';

createRoot(document.getElementById('root')!).render(h(App));
